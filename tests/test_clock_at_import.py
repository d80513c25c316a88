"""No test module reads the clock when it is imported.

A value such as ``NOW = datetime.now()`` at module level is taken when pytest collects
the module, which on a loaded machine can be many minutes before its tests run: a
signature made from it is then older than the receiver's tolerance, and the tests pass or
fail with the machine's load. Clock reads belong inside the test or helper that uses them.
This check reads every test module and the testing kit and names each offending line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = [ROOT / "tests", ROOT / "core" / "testing"]

#: Calls that read the current time: ``datetime.now()``, ``time.time()``, ``date.today()``...
CLOCK_CALLS = frozenset({"now", "utcnow", "today", "time", "time_ns", "monotonic"})


def _is_clock_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    if isinstance(function, ast.Attribute):
        return function.attr in CLOCK_CALLS
    return isinstance(function, ast.Name) and function.id in {"time", "time_ns", "monotonic"}


def _evaluated_at_import(tree: ast.Module) -> Iterator[ast.AST]:
    """Expressions Python evaluates when the module is imported (not inside a function body)."""
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from node.args.defaults
            yield from (default for default in node.args.kw_defaults if default is not None)
            yield from node.decorator_list
        elif isinstance(node, ast.ClassDef):
            pending.extend(node.body)
            yield from node.decorator_list
        elif isinstance(node, ast.If | ast.Try | ast.With):
            pending.extend(ast.iter_child_nodes(node))
        else:
            yield node


def clock_reads_at_import(source: str) -> list[int]:
    """Line numbers in ``source`` where the clock is read at import time."""
    lines = []
    for expression in _evaluated_at_import(ast.parse(source)):
        for node in ast.walk(expression):
            if isinstance(node, ast.Lambda):
                continue
            if _is_clock_call(node):
                lines.append(node.lineno)
    return sorted(set(lines))


def test_the_check_finds_clock_reads_at_import() -> None:
    source = (
        "import datetime as dt\n"
        "NOW = dt.datetime.now(dt.UTC)\n"
        "def helper(at=dt.datetime.now()):\n"
        "    return dt.datetime.now()\n"
        "class Case:\n"
        "    started = time.time()\n"
    )
    assert clock_reads_at_import(source) == [2, 3, 6]


def test_no_module_reads_the_clock_when_imported() -> None:
    offending = {
        str(path.relative_to(ROOT)): lines
        for folder in SCANNED
        for path in sorted(folder.rglob("*.py"))
        if (lines := clock_reads_at_import(path.read_text(encoding="utf-8")))
    }
    assert offending == {}, "take the time inside the test or helper that uses it"
