"""The hub's per-message modules compiled to C with mypyc, and the check that what runs is what the sources say.

The modules every message passes through — the device decoders, the value types and the rules engine —
are ordinary typed Python. `make native` (`python -m hub.native_build`) compiles the ones in
`MODULES` with mypyc into extension modules beside their sources; Python imports an extension module in
preference to the `.py` file of the same name, so the hub then runs them compiled: `Pipeline.accept`
(decode, counters, rules) took 8.0 µs a message instead of 11.2 (`bench/stages.py`, docs/scaling.md §1).
Without a C compiler the build is skipped and the hub runs the same sources as Python: the behaviour is the
same, only slower.

A compiled module does not follow later edits of its source, and a stale one would run old code without a
word. The build therefore writes a manifest (`MANIFEST`) of the SHA-256 of every source it compiled, and
`check()` — run when the hub starts and before the tests — refuses an extension module whose source changed
since, or that the last build did not make, naming the file and the command that fixes it.
"""

from __future__ import annotations

import hashlib
import json
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from hub.errors import HubError

PACKAGE = Path(__file__).resolve().parent  # hub/
# The per-message path (bench/stages.py's stages), as paths relative to the project root. Left out: modules
# with async generators (mypyc cannot compile them), those whose callers hand them values of other types
# than annotated (mypyc checks annotations at run time: `asyncio.gather` returns a list, not a tuple), and
# line protocol, which compiled took 2.53 µs a message instead of 1.72 (it formats floats that a compiled
# caller would box anew for every use).
MODULES: tuple[str, ...] = (
    "hub/models.py",
    "hub/devices/convert.py",
    "hub/devices/counters.py",
    "hub/devices/device_time.py",
    "hub/devices/model.py",
    "hub/devices/ranges.py",
    "hub/devices/registry.py",
    *sorted(
        f"hub/devices/definitions/{p.name}"
        for p in (PACKAGE / "devices" / "definitions").glob("*.py")
        if p.name != "__init__.py"
    ),
    "hub/rules/device_health.py",
    "hub/rules/engine.py",
    "hub/rules/immediate.py",
    "hub/rules/inactivity.py",
    "hub/rules/routine.py",
    "hub/rules/state.py",
    "hub/rules/vitals.py",
    "hub/rules/water.py",
)
# mypyc's group: the shared library all compiled modules call into is `hub/native__mypyc.<suffix>`.
GROUP = "hub.native"
MANIFEST = PACKAGE / "native-build.json"
HOW_TO_FIX = (
    "运行 run `make native` (重新编译 rebuild) 或 or `make clean-native` (以纯 Python 运行 run as Python)"
)


class NativeBuildError(HubError):
    """A compiled module does not match its source (edited, or not made by the last build)."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of each source in `MODULES` under the project `root` (what the manifest records)."""
    return {module: _sha256(root / module) for module in MODULES}


def recorded_hashes(package: Path = PACKAGE) -> dict[str, str]:
    """What the last build's manifest under `package` records ({} when there is none or it is unreadable)."""
    try:
        recorded: dict[str, str] = json.loads((package / MANIFEST.name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return recorded


def extension_files(package: Path) -> list[Path]:
    """Every extension module under `package` (the hub's sources never hold one of their own)."""
    suffixes = tuple(EXTENSION_SUFFIXES)
    return sorted(p for p in package.rglob("*.so") if p.name.endswith(suffixes))


def _source_of(extension: Path) -> Path:
    # `extension_files` only lists names that end with one of the suffixes.
    suffix = next(s for s in EXTENSION_SUFFIXES if extension.name.endswith(s))
    return extension.with_name(extension.name[: -len(suffix)] + ".py")


def stale(package: Path = PACKAGE) -> list[str]:
    """Why extension modules under `package` cannot be trusted to be their sources; [] when they can."""
    extensions = extension_files(package)
    if not extensions:
        return []
    recorded = recorded_hashes(package)
    root = package.parent
    problems: list[str] = []
    for extension in extensions:
        source = _source_of(extension)
        if source.stem == f"{GROUP.rpartition('.')[2]}__mypyc":
            continue  # the group's shared library: it has no source of its own
        module = source.relative_to(root).as_posix()
        if module not in recorded:
            problems.append(f"{extension.relative_to(root)}: 不是上次编译的产物 not made by the last build")
        elif not source.exists():
            problems.append(f"{extension.relative_to(root)}: 源文件已删除 its source {module} is gone")
        elif _sha256(source) != recorded[module]:
            problems.append(f"{module}: 编译后源文件已修改 changed since it was compiled")
    return problems


def check(package: Path = PACKAGE) -> None:
    """Raise `NativeBuildError` when a compiled module is stale (see the module docstring)."""
    problems = stale(package)
    if problems:
        raise NativeBuildError(
            "编译模块已过期 compiled modules are out of date:\n  " + "\n  ".join(problems) + f"\n{HOW_TO_FIX}"
        )


def compiled_modules(package: Path = PACKAGE) -> list[str]:
    """The modules of `MODULES` that have an extension module beside their source (so run compiled)."""
    root = package.parent
    built = {_source_of(extension).relative_to(root).as_posix() for extension in extension_files(package)}
    return [module for module in MODULES if module in built]


def describe(package: Path = PACKAGE) -> str:
    """One line for logs and benchmark reports: how the per-message modules run."""
    compiled = len(compiled_modules(package))
    if compiled == 0:
        return "热路径以纯 Python 运行 per-message modules run as Python (no `make native` build)"
    return f"热路径已编译 per-message modules compiled with mypyc: {compiled}/{len(MODULES)}"
