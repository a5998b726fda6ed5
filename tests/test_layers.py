"""The import rules of the layout: layers import downward only, no cycles, no private names across modules."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Lowest first: a package may import only from packages earlier in this list (and from itself).
LAYERS = ["dx_core", "ganache", "contracts", "notarizer", "mpc_compute", "exchange_api", "dx"]
RANK = {name: i for i, name in enumerate(LAYERS)}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) for every runtime import in the tree."""
    out: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                out.extend((a.name, [], child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".")
                    base = base if is_package else base[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                out.append((target, [a.name for a in child.names], child.lineno))
            visit(child)

    visit(tree)
    return out


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    modules: dict[str, tuple[Path, ast.AST]] = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "node_modules" in path.parts or "migrations" in path.parts:
                continue
            modules[_module_name(path)] = (path, ast.parse(path.read_text(encoding="utf-8")))
    edges: dict[str, set[str]] = defaultdict(set)
    problems: list[str] = []
    for module, (path, tree) in modules.items():
        where = path.relative_to(ROOT)
        for target, names, line in _imports(tree, module, path.name == "__init__.py"):
            top = target.split(".")[0]
            if top not in RANK:
                continue
            if RANK[top] > RANK[module.split(".")[0]]:
                problems.append(f"{where}:{line} imports {target}: an upward import ({' -> '.join(LAYERS)})")
            resolved = [f"{target}.{n}" if f"{target}.{n}" in modules else target for n in names] or [target]
            for name, dep in zip(names or [""], resolved, strict=False):
                if dep in modules and dep != module:
                    edges[module].add(dep)
                if name.startswith("_") and not name.startswith("__") and dep == target and target != module:
                    problems.append(f"{where}:{line} imports the private name {name} from {target}")
            if module.startswith("exchange_api.routes.") and target.startswith("exchange_api.routes."):
                problems.append(f"{where}:{line} imports {target}: a route module importing another route")
    return edges, problems


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def strongconnect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    return found


def test_layers_import_downward_only_and_no_private_names() -> None:
    _, problems = _graph()
    assert not problems, "\n".join(problems)


def test_no_import_cycles() -> None:
    edges, _ = _graph()
    cycles = _cycles(edges)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("layer", LAYERS)
def test_every_module_says_its_role(layer: str) -> None:
    missing = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / layer).rglob("*.py"))
        if "node_modules" not in path.parts
        and path.stat().st_size
        and not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not missing, f"modules without a docstring line on their role: {missing}"
