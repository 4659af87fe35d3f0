"""The app runs with Streamlit's "magic" off (.streamlit/config.toml): a bare expression in a script would then show
nothing, so no script run as a page may rely on one."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = [ROOT / "app.py", *sorted((ROOT / "app_pages").glob("*.py"))]


def _bare_expressions(source: str) -> list[int]:
    """Lines of expression statements that magic would have written: not calls, not docstrings."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)  # a lambda's or an if-expression's body is one expression
            lines += _bare_in(body if isinstance(body, list) else [])
    return sorted(lines)


def _bare_in(body: list[ast.stmt]) -> list[int]:
    lines = []
    for i, statement in enumerate(body):
        if not isinstance(statement, ast.Expr) or isinstance(statement.value, ast.Call | ast.Await):
            continue
        docstring = i == 0 and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)
        if not docstring:
            lines.append(statement.lineno)
    return lines


def test_magic_is_off() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["magicEnabled"] is False


def test_no_page_script_relies_on_magic() -> None:
    assert len(SCRIPTS) > 10
    found = {path.name: lines for path in SCRIPTS if (lines := _bare_expressions(path.read_text()))}
    assert not found, found


def test_the_check_finds_a_bare_expression() -> None:
    source = '"""doc"""\nimport streamlit as st\nx = 1\nx\nst.write(x)\n"a string"\nif x:\n    pass\nelse:\n    x\n'
    assert _bare_expressions(source) == [4, 6, 10]
