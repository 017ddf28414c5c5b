"""Import boundaries, read from the source: the domain never imports sync, offline_sync never
imports backend, and the unit of work imports no feature."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ["backend/registry", "backend/custody", "backend/incidents", "backend/insight"]


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module a file imports, at any depth (function-level imports too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def offenders(folders: list[str], forbidden: str, root: Path = ROOT) -> list[str]:
    bad = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            for module in imported_modules(path, root):
                if module == forbidden or module.startswith(forbidden + "."):
                    bad.append(f"{path.relative_to(root)} imports {module}")
    return bad


@pytest.mark.parametrize("folder", DOMAIN)
def test_domain_package_imports_nothing_from_sync(folder: str) -> None:
    assert offenders([folder], "backend.sync") == []


def test_offline_sync_imports_nothing_from_backend() -> None:
    assert offenders(["offline_sync"], "backend") == []


def test_unit_of_work_imports_no_feature_and_no_sync() -> None:
    imports = imported_modules(ROOT / "backend/changes.py")
    assert sorted(m for m in imports if m.startswith("backend")) == []


def test_import_walk_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    (tmp_path / "backend/registry").mkdir(parents=True)
    probe = tmp_path / "backend/registry/probe.py"
    probe.write_text("def f():\n    from ..sync import feed\n    import backend.sync.routes\n")
    assert sorted(offenders(["backend/registry"], "backend.sync", tmp_path)) == [
        "backend/registry/probe.py imports backend.sync",
        "backend/registry/probe.py imports backend.sync.feed",
        "backend/registry/probe.py imports backend.sync.routes",
    ]
