"""The compiled per-message modules (`make native`): a stale one is refused, the built ones are what runs."""

from __future__ import annotations

import hashlib
import importlib
import json
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from hub import native
from hub.native import NativeBuildError, check, compiled_modules, stale
from hub.native_build import remove_build

SUFFIX = EXTENSION_SUFFIXES[0]  # e.g. .cpython-311-x86_64-linux-gnu.so


def _fake_build(tmp_path: Path, modules: dict[str, str]) -> Path:
    """A project tree under `tmp_path` whose `modules` (path → source) were "compiled" and recorded."""
    package = tmp_path / "hub"
    recorded = {}
    for module, text in modules.items():
        source = tmp_path / module
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(text)
        source.with_name(source.stem + SUFFIX).write_bytes(b"\x7fELF")
        recorded[module] = hashlib.sha256(text.encode()).hexdigest()
    (package / "native__mypyc").with_name("native__mypyc" + SUFFIX).write_bytes(b"\x7fELF")
    (package / native.MANIFEST.name).write_text(json.dumps(recorded))
    return package


def test_a_build_that_matches_its_sources_is_accepted(tmp_path: Path) -> None:
    package = _fake_build(tmp_path, {"hub/models.py": "A = 1\n", "hub/rules/engine.py": "B = 2\n"})
    assert stale(package) == []
    check(package)
    assert compiled_modules(package) == ["hub/models.py", "hub/rules/engine.py"]


def test_an_edited_source_makes_its_compiled_module_stale_and_the_hub_refuses_it(tmp_path: Path) -> None:
    package = _fake_build(tmp_path, {"hub/models.py": "A = 1\n", "hub/rules/engine.py": "B = 2\n"})
    (package / "rules" / "engine.py").write_text("B = 3\n")
    assert stale(package) == ["hub/rules/engine.py: 编译后源文件已修改 changed since it was compiled"]
    with pytest.raises(NativeBuildError, match="make native"):
        check(package)


def test_a_compiled_module_the_last_build_did_not_make_is_refused(tmp_path: Path) -> None:
    package = _fake_build(tmp_path, {"hub/models.py": "A = 1\n"})
    leftover = package / "rules" / ("water" + SUFFIX)  # e.g. left from a build before the manifest was lost
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"\x7fELF")
    (package / "rules" / "water.py").write_text("C = 1\n")
    assert stale(package) == [f"hub/rules/water{SUFFIX}: 不是上次编译的产物 not made by the last build"]
    (package / native.MANIFEST.name).unlink()  # no manifest: nothing compiled can be trusted
    assert len(stale(package)) == 2


def test_clean_removes_every_compiled_module_so_the_sources_run(tmp_path: Path) -> None:
    package = _fake_build(tmp_path, {"hub/models.py": "A = 1\n", "hub/rules/engine.py": "B = 2\n"})
    assert remove_build(package) == 4  # two modules, the group's shared library, the manifest
    assert stale(package) == [] and compiled_modules(package) == []
    assert (package / "models.py").exists()


def test_the_modules_built_are_the_ones_imported() -> None:
    """After `make native` every listed module runs compiled (an extension Python did not load is worth
    nothing); without a build, every one runs from its source."""
    built = set(compiled_modules())
    assert built in (set(), set(native.MODULES))
    for module in native.MODULES:
        loaded = importlib.import_module(module.removesuffix(".py").replace("/", "."))
        assert str(loaded.__file__).endswith(SUFFIX if module in built else ".py"), loaded.__file__
