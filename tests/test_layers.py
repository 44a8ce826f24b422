"""The package is a one-way stack: no module imports a layer above its own, and no modules import each other.

Every ``import`` is read with ``ast`` (those inside functions and ``TYPE_CHECKING`` blocks too),
so a lazy import cannot hide an arrow that runs back up.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import merauto

# Ground floor first; a module may import its own layer and the layers before it.
LAYERS = ("errors", "pipeline", "data", "evaluator", "search_space", "results", "orchestrator", "api", "cli")
TOP_LEVEL = {"__main__": "cli"}  # modules at the package root that belong to a layer of their own name otherwise


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` (module ``name``) imports, by their full names."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import a.b.c` names module a.b.c, or an attribute of it
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    paths = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    return {name: imported_modules(path, name, set(paths)) for name, path in paths.items()}


def layer_of(module: str) -> int:
    """The position of ``module``'s layer in :data:`LAYERS` (the root package and private helpers: the ground floor)."""
    parts = module.split(".")
    if len(parts) == 1:
        return 0
    room = TOP_LEVEL.get(parts[1], parts[1])
    return LAYERS.index(room) if room in LAYERS else 0


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} ({LAYERS[layer_of(module)]}) imports {target} ({LAYERS[layer_of(target)]})"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan): modules that import each other, directly or round a loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_module_imports_a_layer_above_its_own() -> None:
    graph = import_graph(Path(merauto.__file__).parent)
    assert {"merauto.pipeline.registry", "merauto.data.features", "merauto.orchestrator.search"} <= set(graph)  # the package was read
    assert "merauto.data.features" in graph["merauto.orchestrator.search"]  # and its imports
    assert upward_imports(graph) == []


def test_no_two_modules_import_each_other() -> None:
    assert cycles(import_graph(Path(merauto.__file__).parent)) == []


def test_every_folder_of_the_package_is_a_layer() -> None:
    rooms = {p.name for p in Path(merauto.__file__).parent.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert rooms <= set(LAYERS), rooms - set(LAYERS)


def test_the_checks_catch_an_upward_import_and_a_loop(tmp_path: Path) -> None:
    files = {
        "merauto/__init__.py": "",
        "merauto/errors.py": "",
        "merauto/data/__init__.py": "",
        "merauto/data/a.py": "from merauto.data import b\n",
        "merauto/data/b.py": "def f():\n    from merauto.data.c import x\n",
        "merauto/data/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from merauto.data.a import y\n",
        "merauto/results/__init__.py": "",
        "merauto/results/store.py": "import merauto.errors\n",
        "merauto/evaluator/__init__.py": "",
        "merauto/evaluator/engine.py": "from merauto.results.store import Store\nfrom . import nested\n",
        "merauto/evaluator/nested.py": "from .engine import run\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    graph = import_graph(tmp_path / "merauto")
    assert upward_imports(graph) == ["merauto.evaluator.engine (evaluator) imports merauto.results.store (results)"]
    assert sorted(cycles(graph)) == [
        ["merauto.data.a", "merauto.data.b", "merauto.data.c"],
        ["merauto.evaluator.engine", "merauto.evaluator.nested"],
    ]


CENTRAL = {
    "pipeline": {"PipelineConfig", "Registry", "Component"},
    "data": {"inputs_for", "load_index", "INPUTS", "FeatureCache"},
    "evaluator": {"evaluate_trial", "build_model", "BLOCKS", "LOSSES", "OPTIMISERS", "VECTOR_TRUNKS", "TEMPORAL_TRUNKS"},
    "search_space": {"define_by_run", "PRESETS", "REGISTRIES"},
    "results": {"selected_trial", "build_report", "export_pipeline", "repeat_trial"},
    "orchestrator": {"run_search", "SearchOptions"},
    "api": {"search", "open_run", "Run", "load_pipeline"},
}


def test_every_layer_package_re_exports_its_public_names() -> None:
    import importlib

    assert set(CENTRAL) == set(LAYERS[1:-1])
    for room, names in CENTRAL.items():
        package = importlib.import_module(f"merauto.{room}")
        assert package.__doc__ and names <= set(package.__all__) <= set(dir(package)), room
        namespace: dict[str, object] = {}
        exec(f"from merauto.{room} import *", namespace)  # noqa: S102 - what `import *` gives a user
        assert set(package.__all__) <= set(namespace), room
