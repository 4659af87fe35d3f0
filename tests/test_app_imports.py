"""app.py, the frame, imports only the UI helpers and the page registry (issue 14's layers).

import-linter checks every package's imports (pyproject `[tool.importlinter]`, `make test` runs `lint-imports`),
but it takes only packages as roots, and app.py is a module at the repository root: this test checks it.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app.py"
# Project packages (and torch) that the frame must reach only through ui / app_pages.registry.
GUARDED = {"app_pages", "ui", "services", "viz", "attention_core", "bench", "tests", "devtools", "torch"}
ALLOWED = ("ui", "app_pages.registry")


def imported_names(source: str) -> list[tuple[int, str]]:
    """(line, dotted name) for every import, at any depth; `from a import b` gives a.b (b may be a module)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return sorted(names)


def forbidden_imports(source: str) -> list[str]:
    def allowed(name: str) -> bool:
        return any(name == a or name.startswith(a + ".") for a in ALLOWED)

    return [
        f"app.py:{line} imports {name}"
        for line, name in imported_names(source)
        if name.split(".")[0] in GUARDED and not allowed(name)
    ]


def test_app_imports_only_ui_and_the_page_registry() -> None:
    assert forbidden_imports(APP.read_text(encoding="utf-8")) == []


def test_the_check_sees_forbidden_imports_at_any_depth() -> None:
    source = (
        "import streamlit as st\nfrom ui import shell\nfrom app_pages.registry import PAGES\n"
        "from app_pages import registry\nimport viz.figures\n"
        "def main():\n    from services.models import load\n    from app_pages import patterns\n"
    )
    assert forbidden_imports(source) == [
        "app.py:5 imports viz.figures",
        "app.py:7 imports services.models.load",
        "app.py:8 imports app_pages.patterns",
    ]
