"""View models: what a page needs from an engine Trace, as numpy arrays, dataclasses and labels.

Torch stops here: every function reads a Trace only through its public methods (duck-typed, so tests
pass small fakes) and returns plain numpy. No Streamlit, no torch import, no Plotly.
"""
