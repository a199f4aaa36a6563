"""The package is layered: no module imports, directly or through others, one that imports it
back. Read from the source with ``ast``, imports inside functions included."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rmens_utils"


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module name -> the package's modules it imports anywhere in its source."""
    modules = {p.stem for p in package.glob("*.py")} - {"__init__"}
    graph = {}
    for name in modules:
        edges = set()
        for node in ast.walk(ast.parse((package / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:  # from .x import y
                    edges.add(node.module.split(".")[0])
                else:  # from . import x, y
                    edges |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package.name):
                rest = node.module.removeprefix(package.name).lstrip(".")
                edges |= {rest.split(".")[0]} if rest else {a.name for a in node.names}
        graph[name] = edges & modules
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that returns to its start, or None."""
    done, path = set(), []

    def visit(node):
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for nxt in sorted(graph[node]):
            if cycle := visit(nxt):
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        if cycle := visit(node):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle_inside_a_function(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "low.py").write_text("def f():\n    from .high import g\n")
    (package / "high.py").write_text("from . import low\n")
    (package / "alone.py").write_text("import os\n")
    assert find_cycle(import_graph(package)) == ["high", "low", "high"]
    (package / "low.py").write_text("import os\n")
    assert find_cycle(import_graph(package)) is None


@pytest.mark.parametrize("lower, higher", [("stages", "pipeline"), ("models", "pipeline"),
                                           ("sft", "pipeline"), ("plotting", "gold"),
                                           ("analysis", "study")])
def test_lower_modules_never_reach_higher_ones(lower, higher):
    graph, seen, todo = import_graph(), set(), [lower]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert higher not in seen
