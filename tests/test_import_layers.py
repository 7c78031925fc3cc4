"""House rule: packages import downwards only, no cycles, not even inside functions.

Every `gridlab` module is parsed with `ast`; every import (module level, function level,
`TYPE_CHECKING` blocks, `importlib.import_module('...')` with a literal name) is resolved to
its unit: a subpackage (`gridlab.backtest`, `gridlab.store`, ...) or a top-level module
(`gridlab.cli`, `gridlab.fmt`, ...). The graph of units must be acyclic.

Run it as a script to print the graph and its cycles: `python tests/test_import_layers.py`.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_names(tree: ast.AST, module: str, is_pkg: bool) -> Iterator[tuple[str, int]]:
    """(absolute dotted name, line) of every import in a module, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield mod, node.lineno
            for a in node.names:  # `from gridlab import fmt` names a module
                yield f"{mod}.{a.name}", node.lineno
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", ""))
              in ("import_module", "__import__")):
            yield node.args[0].value, node.lineno


def unit_of(name: str, units: set[str]) -> str | None:
    """The unit (subpackage or top-level module of the package) a dotted name belongs to."""
    parts = name.split(".")
    if len(parts) < 2:
        return None
    unit = ".".join(parts[:2])
    return unit if unit in units else None


def import_graph(package: Path) -> tuple[dict[str, dict[str, list[str]]], set[str]]:
    """{unit: {imported unit: ['file:line', ...]}} for the package tree at `package`."""
    name = package.name
    units = {f"{name}.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    units |= {f"{name}.{p.name}" for p in package.iterdir()
              if p.is_dir() and (p / "__init__.py").exists()}
    graph: dict[str, dict[str, list[str]]] = {u: {} for u in units}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent)
        is_pkg = path.stem == "__init__"
        module = ".".join(rel.with_suffix("").parts[:-1] if is_pkg else rel.with_suffix("").parts)
        src = unit_of(module, units)
        if src is None:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for target, line in _imported_names(tree, module, is_pkg):
            dst = unit_of(target, units)
            where = f"{rel}:{line}"
            if dst is not None and dst != src and where not in graph[src].get(dst, []):
                graph[src].setdefault(dst, []).append(where)
    return graph, units


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one unit (each one a set of cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def describe(graph: dict[str, dict[str, list[str]]], comp: list[str]) -> str:
    """The edges inside one cycle, with where each import is."""
    lines = []
    for a in comp:
        for b in comp:
            if b in graph[a]:
                lines.append(f"  {a} -> {b}: {', '.join(graph[a][b][:4])}")
    return "\n".join(lines)


def test_no_import_cycle_between_gridlab_packages() -> None:
    graph, _ = import_graph(ROOT / "gridlab")
    found = cycles(graph)
    assert not found, "import cycles between gridlab packages:\n" + "\n".join(
        f"{' <-> '.join(c)}\n{describe(graph, c)}" for c in found)


def test_the_scan_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    pkg = tmp_path / "pk"
    for sub in ("low", "high"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "high" / "a.py").write_text("from pk.low.b import f\n")
    (pkg / "low" / "b.py").write_text("def f():\n    from ..high import a\n    return a\n")
    (pkg / "tool.py").write_text("import importlib\nimportlib.import_module('pk.high.a')\n")
    graph, units = import_graph(pkg)
    assert units == {"pk.low", "pk.high", "pk.tool"}
    assert graph["pk.low"] == {"pk.high": ["pk/low/b.py:2"]}
    assert graph["pk.tool"] == {"pk.high": ["pk/tool.py:2"]}
    assert cycles(graph) == [["pk.high", "pk.low"]]
    (pkg / "low" / "b.py").write_text("def f():\n    return 1\n")
    assert cycles(import_graph(pkg)[0]) == []


def test_a_from_package_import_of_a_module_counts(tmp_path: Path) -> None:
    pkg = tmp_path / "pk"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from pk import fmt\n")
    (pkg / "fmt.py").write_text("from pk.sub import x\n")
    graph, _ = import_graph(pkg)
    assert cycles(graph) == [["pk.fmt", "pk.sub"]]


if __name__ == "__main__":
    g, _ = import_graph(ROOT / "gridlab")
    for unit in sorted(g):
        print(f"{unit} -> {', '.join(sorted(g[unit])) or '-'}")
    for c in cycles(g):
        print(f"\nCYCLE {' <-> '.join(c)}\n{describe(g, c)}")
    sys.exit(1 if cycles(g) else 0)
