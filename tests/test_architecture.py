"""The layering of the package (docs/architecture.md), enforced: the import-linter contracts in
pyproject.toml hold with no exception listed, and no module imports itself through others."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_layers_contracts_hold():
    pytest.importorskip("importlinter", reason="import-linter is part of the test extra: pip install -e '.[test]'")
    out = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                          "lint_imports_command()"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_no_contract_lists_exceptions():
    text = (ROOT / "pyproject.toml").read_text()
    contracts = text[text.index("[tool.importlinter]"):]
    assert "ignore_imports" not in contracts and "unmatched_ignore" not in contracts


def test_no_module_imports_itself_through_others():
    """No import circle between modules (function-level imports included; a package's ``__init__``,
    which only re-exports, is not a module of a circle)."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("causalnet")
    packages = {m for m in graph.modules if graph.find_children(m)}
    edges = {m: {d for d in graph.find_modules_directly_imported_by(m) if d not in packages} for m in graph.modules}
    circles = [c for c in _strongly_connected(edges) if len(c) > 1]
    assert not circles, circles


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(comp)
    return out


def test_the_circle_finder_finds_a_circle():
    assert sorted(map(sorted, _strongly_connected({"a": {"b"}, "b": {"a"}, "c": set()}))) == [["a", "b"], ["c"]]
