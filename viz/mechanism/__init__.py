"""View models and figure builders for the mechanism pages (inside one head, embedding shifts, head
finder, cross-attention, parameters and context size).

Modules other than `session` are pure: they take an engine Trace/Model (or plain numbers) and return
numpy arrays, dataclasses or Plotly figures, so they are testable without Streamlit. Torch stops
here: every array a page receives is numpy.
"""
