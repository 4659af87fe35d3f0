"""Tools for developing the app that both tests/ and bench/ use (never imported by the app or the engine)."""
