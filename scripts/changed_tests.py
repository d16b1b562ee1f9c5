"""The test paths that cover a change: what `make check` runs after the linters.

A change is every file that differs from the merge base with ``main`` (or with ``--base``), committed or not,
plus the untracked files. Each maps to tests:

- ``src/maillage/<package>/...``  -> ``tests/<package>/`` and ``tests/e2e/test_<package>*.py`` when they exist, and
  the same for every package that imports the changed module, directly or not (the import graph of grimp, which
  import-linter uses): a change to the kit, the security core or the models runs nearly everything, as it should;
- ``src/maillage/<module>.py``    -> ``tests/test_<module>.py`` (or ``tests/<module>/``) when it exists, and the
  tests of its importers;
- ``migrations/...``              -> ``tests/test_migrations.py``;
- ``tests/**/test_*.py``          -> the file itself;
- any other file under ``tests/`` (a builder in ``tests/fixtures/``, a package's ``conftest.py`` or helper)
  -> the test files that import it, or its package's directory for a ``conftest.py``; the root
  ``tests/conftest.py`` -> the whole suite.

Prints the paths, one per line, nothing when no test covers the change.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


def git(*args: str) -> str:
    # git from PATH with fixed arguments: the developer's own tool on their own checkout.
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout  # noqa: S603, S607


def merge_base(base: str | None) -> str:
    if base:
        return git("merge-base", "HEAD", base).strip()
    try:
        return git("merge-base", "HEAD", "main").strip()
    except subprocess.CalledProcessError:
        return "HEAD"


def changed_files(base: str) -> list[str]:
    diffed = git("diff", "--name-only", base).splitlines()
    untracked = git("ls-files", "--others", "--exclude-standard").splitlines()
    return sorted(set(diffed) | set(untracked))


def importers(module: str) -> list[Path]:
    """The test files that import ``module`` (dotted, e.g. ``tests.fixtures.patients``)."""
    pattern = re.compile(rf"^\s*(from|import)\s+{re.escape(module)}\b", re.MULTILINE)
    return [path for path in TESTS.rglob("test_*.py") if pattern.search(path.read_text(encoding="utf-8"))]


def importing_packages(module: str) -> set[str]:
    """The top-level packages of ``maillage`` with a module that imports ``module``, directly or not."""
    import grimp

    graph = grimp.build_graph("maillage", cache_dir=None)
    if module not in graph.modules:
        return set()
    return {name.split(".")[1] for name in graph.find_downstream_modules(module) if name.count(".") >= 1}


def package_tests(name: str) -> set[Path]:
    """A package's tests: its directory, its module test and its browser tests (``tests/e2e/test_<name>*.py``)."""
    return {TESTS / name, TESTS / f"test_{name}.py", *(TESTS / "e2e").glob(f"test_{name}*.py")}


def tests_for(changed: str) -> set[Path]:
    path = ROOT / changed
    parts = Path(changed).parts
    found: set[Path] = set()
    if parts[:2] == ("src", "maillage") and len(parts) >= 3 and path.suffix == ".py":
        module = ".".join(Path(changed).with_suffix("").parts[1:]).removesuffix(".__init__")
        for name in {Path(parts[2]).stem} | importing_packages(module):
            found |= package_tests(name)
    elif parts[:2] == ("src", "maillage") and len(parts) >= 3:
        found |= package_tests(Path(parts[2]).stem)  # a template or static file: its package's tests
    elif parts[:1] == ("migrations",):
        found.add(TESTS / "test_migrations.py")
    elif parts[:1] == ("tests",) and path.suffix == ".py":
        if path.name.startswith("test_"):
            found.add(path)
        elif path == TESTS / "conftest.py":
            found.add(TESTS)
        elif path.name == "conftest.py":
            found.add(path.parent)
        else:
            module = ".".join(Path(changed).with_suffix("").parts)
            found |= set(importers(module.removesuffix(".__init__")))
    return {p for p in found if p.exists()}


def covering_paths(changed: list[str]) -> list[str]:
    paths: set[Path] = set()
    for name in changed:
        paths |= tests_for(name)
    if TESTS in paths:
        return ["tests"]
    # A file inside a directory that is already selected adds nothing.
    kept = {p for p in paths if not any(d != p and d.is_dir() and d in p.parents for d in paths)}
    return sorted(str(p.relative_to(ROOT)) for p in kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="the branch or commit to compare with (default: the merge base with main)")
    args = parser.parse_args()
    for path in covering_paths(changed_files(merge_base(args.base))):
        print(path)


if __name__ == "__main__":
    main()
