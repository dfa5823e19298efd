"""The import rules of the architecture (README, "Architecture"), checked on every test run.

- the import-linter contracts in pyproject.toml: the mail layer imports neither app; campaigns
  and replies reach each other only through their interface modules; nothing in production
  imports the development tools; sibling modules and packages form no cycles
- no import cycle between any two modules of the project (function-level imports included)
- a project import inside a function says why in a comment (on its line or the line above)
- no test hooks in production modules
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
from importlinter import configuration
from importlinter.application.use_cases import lint_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rundbrief", "subscribers", "campaigns", "replies", "api", "audience", "dialogue")


def test_the_import_linter_contracts_are_kept():
    configuration.configure()  # what the lint-imports command does first
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), cache_dir=None, no_logo=True)


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start) & modules)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules)))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_two_modules_import_each_other_even_indirectly():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    modules = {m for m in graph.modules if ".migrations" not in m}
    assert _cycles(graph, modules) == []


def _project_files():
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


def _imports_inside_functions(tree: ast.AST):
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    yield node, [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    yield node, [node.module]


def test_a_project_import_inside_a_function_says_why():
    undocumented = []
    for path in _project_files():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node, names in _imports_inside_functions(ast.parse(source)):
            if not any(name.split(".")[0] in PACKAGES for name in names):
                continue
            here, above = lines[node.lineno - 1], lines[node.lineno - 2] if node.lineno > 1 else ""
            if "#" not in here and not above.strip().startswith("#"):
                undocumented.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert undocumented == []


def test_production_code_holds_no_test_hooks():
    """Test-only behaviour (a worker that kills itself) lives under tests/, never in the apps."""
    hooks = [
        f"{path.relative_to(ROOT)}"
        for path in _project_files()
        if "os._exit" in (text := path.read_text(encoding="utf-8")) or "RUNDBRIEF_TEST" in text
    ]
    assert hooks == []
