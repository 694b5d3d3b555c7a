"""`make native`: compile the per-message modules (`hub.native.MODULES`) with mypyc, showing progress.

    python -m hub.native_build            build when a source changed since the last build (else say so)
    python -m hub.native_build --clean    remove the compiled modules: the hub runs its sources as Python
    python -m hub.native_build --require  fail (exit 1) when the build cannot be done, instead of warning

mypyc type-checks the modules and writes C; setuptools compiles it (`--jobs` at once) into extension modules
beside the sources. A build that cannot be done — mypyc not installed (it comes with mypy, in the `test`
and `native` extras), no C compiler or Python headers — leaves no extension module behind and says that the
hub runs as Python; the manifest is written only after a build succeeded. The compiler's output goes to
`build/native/build.log`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hub.native import (
    GROUP,
    MANIFEST,
    MODULES,
    PACKAGE,
    compiled_modules,
    extension_files,
    recorded_hashes,
    source_hashes,
    stale,
)

ROOT = PACKAGE.parent
BUILD_DIR = ROOT / "build" / "native"
_SETUPTOOLS = "--setuptools"  # the child process that runs setuptools as the build script
_BUILDING = re.compile(r"building '([\w.]+)' extension")


def remove_build(package: Path = PACKAGE) -> int:
    """Delete every extension module and the manifest under `package`; how many files were removed."""
    removed = 0
    for path in [*extension_files(package), package / MANIFEST.name]:
        if path.exists():
            path.unlink()
            removed += 1
    return removed


def up_to_date() -> bool:
    """Whether every module of `MODULES` is compiled from its present source."""
    if stale():
        return False
    return recorded_hashes() == source_hashes(ROOT) and compiled_modules() == list(MODULES)


def _run_setuptools(args: Sequence[str]) -> None:
    # Imported here: only the build child needs them, and they are not installed without the extras.
    from mypyc.build import mypycify
    from setuptools import setup

    setup(
        name="eldercare-hub-native",
        packages=[],
        script_args=list(args),
        ext_modules=mypycify(list(MODULES), group_name=GROUP, opt_level="3"),
    )


def build(jobs: int) -> tuple[bool, str]:
    """Compile `MODULES`; (whether it worked, why not)."""
    if importlib.util.find_spec("mypyc") is None:
        return False, "未安装 mypyc (mypy 自带) mypyc is not installed: pip install -e '.[native]'"
    hashes = source_hashes(ROOT)  # before compiling: an edit during the build leaves the build stale
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    log_path = BUILD_DIR / "build.log"
    command = [
        sys.executable,
        "-m",
        "hub.native_build",
        _SETUPTOOLS,
        "build_ext",
        "--inplace",
        "--parallel",
        str(jobs),
        "--build-temp",
        str(BUILD_DIR / "temp"),
        "--build-lib",
        str(BUILD_DIR / "lib"),
    ]
    total = len(MODULES) + 1  # and the group's shared library
    tty = sys.stdout.isatty()
    start = "\r" if tty else ""
    done = 0
    print(
        f"mypyc: 检查类型并生成 C 代码 type-checking and writing C for {len(MODULES)} modules …", flush=True
    )
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            found = _BUILDING.search(line)
            if found:
                done += 1
                bar = "#" * (30 * done // total)
                # On a terminal one bar redrawn in place; in a log (CI) a line each.
                end = "" if tty else "\n"
                print(
                    f"{start}  编译 compiling [{bar:<30}] {done}/{total} {found.group(1):<40}",
                    end=end,
                    flush=True,
                )
        code = proc.wait()
    if tty:
        print()
    if code != 0:
        tail = log_path.read_text(encoding="utf-8").splitlines()[-15:]
        return False, f"编译失败 the build failed (exit {code}); {log_path}:\n    " + "\n    ".join(tail)
    missing = sorted(set(MODULES) - set(compiled_modules()))
    if missing:
        return False, f"编译后缺少 the build made no extension module for: {', '.join(missing)}"
    MANIFEST.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return True, ""


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == _SETUPTOOLS:
        _run_setuptools(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m hub.native_build", description=__doc__.split("\n")[0])
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules")
    parser.add_argument("--require", action="store_true", help="exit 1 when the build cannot be done")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="C files compiled at once")
    args = parser.parse_args(argv)
    if args.clean:
        print(f"已删除编译模块 removed {remove_build()} compiled files; the hub runs its sources as Python")
        return 0
    if up_to_date():
        print(f"编译模块已是最新 the {len(MODULES)} compiled modules match their sources")
        return 0
    remove_build()  # a partial or stale build must not be left to shadow the sources
    ok, why = build(max(1, args.jobs))
    if ok:
        print(f"已编译 compiled {len(MODULES)} modules with mypyc")
        return 0
    remove_build()
    print(
        f"警告 warning: {why}\n热路径将以纯 Python 运行 the hub runs its sources as Python", file=sys.stderr
    )
    return 1 if args.require else 0


if __name__ == "__main__":
    sys.exit(main())
