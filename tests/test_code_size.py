"""Small modules, short functions (issue 14, the project's guide): outside tests/, no source file over 400 lines
and no function or method over 60 lines, unless its docstring (the module's, for a file) has a line starting
"Long because" that says why."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["app.py", "app_pages", "ui", "services", "viz", "attention_core", "attention_viz", "bench", "devtools"]
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
REASON = "Long because"


def source_files() -> list[Path]:
    files = []
    for name in SOURCES:
        path = ROOT / name
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def says_why(node: ast.AST) -> bool:
    doc = ast.get_docstring(node) or ""
    return any(line.strip().startswith(REASON) for line in doc.splitlines())


def oversized(source: str, where: str) -> list[str]:
    """What in `source` is over the limits without a reason: the file, then each function (decorators excluded)."""
    tree = ast.parse(source)
    found = []
    n_lines = len(source.splitlines())
    if n_lines > MAX_FILE_LINES and not says_why(tree):
        found.append(f"{where}: {n_lines} lines (> {MAX_FILE_LINES})")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES and not says_why(node):
                found.append(f"{where}:{node.lineno} {node.name}() is {length} lines (> {MAX_FUNCTION_LINES})")
    return found


def test_no_source_file_or_function_is_too_long_without_a_reason() -> None:
    found = []
    for path in source_files():
        found += oversized(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    if found:
        pytest.fail("too long (split it, or say why in a docstring line starting 'Long because'):\n" + "\n".join(found))


def test_the_check_counts_lines_and_reads_the_reason() -> None:
    body = "".join(f"    x = {i}\n" for i in range(59))
    short = "def short():\n" + body  # 60 lines
    long = "@decorator\ndef long():\n" + body + "    return x\n"  # 61 lines from `def`
    excused = 'def excused():\n    """Does one thing.\n\n    Long because one table.\n    """\n' + body
    assert oversized(short + long + excused, "m.py") == ["m.py:62 long() is 61 lines (> 60)"]
    filler = "\n" * (MAX_FILE_LINES - 1)
    assert oversized('"""Docs."""\n' + filler, "m.py") == []
    assert oversized('"""Docs."""\n' + filler + "x = 1\n", "m.py") == ["m.py: 401 lines (> 400)"]
    assert oversized('"""Docs.\n\nLong because one list."""\n' + filler, "m.py") == []
