"""The package's shape (docs/design.md, "The house"): at most 12 modules at the top, no
Python file over 500 lines, and an import graph without circles in which every package
imports only from the layers below it."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "whispersign_jax"
MAX_TOP_LEVEL_MODULES = 12
MAX_LINES = 500

# Lower layers first; a package or top-level module imports only from layers before its own.
LAYERS = (
    ("errors", "keypoints", "vocab", "storage"),  # the contracts, and where files live
    ("cli",),  # what every command shares
    ("extraction", "model", "pictures"),
    ("data", "decoding"),
    ("runs",),  # the workdir and checkpoint format, the trained-model loader
    ("inference", "training"),
    ("export",),
    ("serve",),
    ("main", "evaluate", "recognize", "extract", "visualize"),  # the commands
)
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in modules}


def import_graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: imported_modules(path, set(files)) - {name} for name, path in files.items()}


def part(module: str) -> str | None:
    """The top-level package or module that ``module`` belongs to (None: the package root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_at_most_twelve_modules_at_the_top_of_the_package():
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules


def test_no_python_file_is_over_500_lines():
    folders = (PACKAGE, ROOT / "scripts", ROOT / "configs", ROOT / "tests")
    files = [path for folder in folders for path in folder.rglob("*.py")]
    long = {
        str(f.relative_to(ROOT)): n
        for f in files
        if (n := len(f.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_every_part_of_the_package_has_a_layer():
    parts = {part(name) for name in import_graph()} - {None}
    assert parts == set(LAYER), f"add {parts - set(LAYER)} to LAYERS, drop {set(LAYER) - parts}"


def test_imports_only_go_down_the_layers():
    upward = [
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        for target in targets
        if part(module) and part(target) and part(module) != part(target)
        and LAYER[part(target)] >= LAYER[part(module)]
    ]  # fmt: skip
    assert not upward, upward


def test_the_import_graph_has_no_circles():
    graph, state, cycles = import_graph(), {}, []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


@pytest.mark.parametrize(
    "layered", ["whispersign_jax.training.loop", "whispersign_jax.runs.trained"]
)
def test_the_graph_sees_lazy_imports(layered):
    """Imports inside functions count too (a check that cannot fail would be worthless)."""
    assert import_graph()[layered], layered
