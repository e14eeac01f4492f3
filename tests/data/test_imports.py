"""The data modules form a tree (no import circle), and the NumPy-only parts stay light."""

import ast
import re
from pathlib import Path

from conftest import frameworks_imported_by

import whispersign_jax

PACKAGE = Path(whispersign_jax.__file__).parent
DATA = PACKAGE / "data"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports anywhere in it (lazy imports included): for
    `from package import name`, the submodule where `name` is one, else the package."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return found & modules


def test_the_data_modules_import_no_circle():
    paths = {module_name(p): p for p in DATA.rglob("*.py")}
    graph = {name: imports(path, set(paths)) - {name} for name, path in paths.items()}
    state: dict[str, str] = {}

    def visit(name, chain):
        if state.get(name) == "open":
            raise AssertionError("import circle: " + " -> ".join([*chain, name]))
        if state.get(name) != "done":
            state[name] = "open"
            for child in sorted(graph[name]):
                visit(child, [*chain, name])
            state[name] = "done"

    for name in sorted(graph):
        visit(name, [])
    assert "whispersign_jax.data.sources" not in set().union(
        *(graph[n] for n in graph if ".tfds_builders" in n)
    )


def test_sources_and_prepare_import_no_framework():
    modules = (
        "whispersign_jax.data.sources",
        "whispersign_jax.data.prepare.cli",
        "whispersign_jax.data.processed",
        "whispersign_jax.data.validation",
    )
    assert frameworks_imported_by(*modules) == []


def test_each_contract_fact_is_written_once():
    literals = {
        '("train", "val", "test")': "contract.py",
        "(0.8, 0.1, 0.1)": "contract.py",
        '"label_map.json"': None,  # vocab.LABEL_MAP_FILE, outside data/
        '"features"': "processed.py",
    }
    for literal, owner in literals.items():
        holders = sorted(p.name for p in DATA.rglob("*.py") if literal in p.read_text("utf-8"))
        assert holders == ([owner] if owner else []), (literal, holders)
    # `fps: float = 30.0`, `DEFAULT_FPS = 30.0`, `"--voya_fps", type=float, default=30.0`
    fps_30 = re.compile(r'fps\w*(\s*:\s*float)?\s*=\s*30\b|fps"[^\n]*default=30\b', re.I)
    holders = sorted(p.name for p in DATA.rglob("*.py") if fps_30.search(p.read_text("utf-8")))
    assert holders == ["contract.py"], holders
