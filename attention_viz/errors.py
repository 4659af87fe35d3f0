"""The library's refusal of a file it cannot write, shared by the exporters and the SVG writer (which the exporter
imports, so the class cannot live in export.py)."""

from __future__ import annotations


class ExportError(ValueError):
    """A file that cannot be written as asked (a format the view lacks, an unknown tensor, no browser for PNG, a
    view with no heatmap as SVG)."""
