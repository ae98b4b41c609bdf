"""The shape of the code, checked (issue #18): no import cycle, few function-local imports of
project code (each saying why), no module too long to read.

import-linter (`rose-ash check`, the contracts in pyproject.toml) guards the layers between
packages; these checks are finer: a cycle between two modules of one package, an import hidden in
a function, a file that has outgrown its name.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator
from pathlib import Path

import grimp

from shared.config import APP_NAMES, REPO_ROOT

PACKAGES = ("shared", *APP_NAMES)
MAX_LOCAL_IMPORTS = 10
MAX_MODULE_LINES = 800
MIGRATIONS = REPO_ROOT / "shared" / "alembic" / "versions"


def _python_files(*tops: str) -> Iterator[Path]:
    for top in tops:
        for path in sorted((REPO_ROOT / top).rglob("*.py")):
            if not path.is_relative_to(MIGRATIONS):
                yield path


def _strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's components of more than one module (iterative: the graph is a few hundred deep)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph.find_modules_directly_imported_by(step)))))
                elif step in on_stack:
                    low[module] = min(low[module], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle() -> None:
    """No module reaches itself through imports, counting those inside functions and under
    TYPE_CHECKING: a cycle dodged at run time is still a cycle to whoever reads the code."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    cycles = _strongly_connected(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def _is_project(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] in PACKAGES
    return any(alias.name.split(".")[0] in PACKAGES for alias in node.names)


def _local_imports(path: Path) -> Iterator[tuple[int, bool]]:
    """(line, commented) of each import of project code inside a function of ``path``."""
    source = path.read_text()
    comments = {
        token.start[0]
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    seen: set[int] = set()
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import | ast.ImportFrom) and _is_project(node):
                if node.lineno in seen:  # a nested function's import is walked twice
                    continue
                seen.add(node.lineno)
                end = node.end_lineno or node.lineno
                yield node.lineno, any(n in comments for n in range(node.lineno - 1, end + 1))


def test_function_local_imports_are_few_and_explained() -> None:
    """Imports go at the top; one inside a function is a measured start-up cost, said so."""
    found = [
        (path.relative_to(REPO_ROOT), line, commented)
        for path in _python_files(*PACKAGES)
        for line, commented in _local_imports(path)
    ]
    listed = "\n".join(
        f"{path}:{line}" + ("" if commented else " (no comment)") for path, line, commented in found
    )
    heading = f"{len(found)} function-local imports of project code (at most {MAX_LOCAL_IMPORTS}"
    assert len(found) <= MAX_LOCAL_IMPORTS, f"{heading}):\n{listed}"
    assert all(commented for _, _, commented in found), f"{heading}, each commented):\n{listed}"


def test_no_module_is_too_long() -> None:
    """A module past 800 lines is several modules (migrations excepted: they are history)."""
    long = {
        str(path.relative_to(REPO_ROOT)): lines
        for path in _python_files(*PACKAGES, "tests", "bench")
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"
