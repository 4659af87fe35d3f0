"""Which tests need the real models: tests/conftest.py marks them `real_model`, and `make test-fast` leaves them out.

A test needs them when it uses a real-model fixture (tests/conftest.py), or when its code, its fixtures' code, or a
test helper they call by name runs the app through AppTest (the app loads the real default model) or loads a real
model by name (`load_model("minilm-l6")`, `engine.load(MODEL, ...)` with MODEL a module constant).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator

import pytest

REAL_MODELS = {"smollm2-135m", "minilm-l6"}
REAL_MODEL_FIXTURES = {"smollm", "minilm", "hf_smollm", "hf_minilm"}  # and all built on them (fluffy)
LOADERS = {"load_model", "load"}  # attention_core.load_model, services.models.load


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _strings(const: object) -> Iterator[str]:
    """The strings in a code constant (a loop over a literal list is a tuple constant)."""
    if isinstance(const, str):
        yield const
    elif isinstance(const, tuple | frozenset):
        for item in const:
            yield from _strings(item)


def reaches_real_model(func: Callable, seen: set[types.CodeType] | None = None) -> bool:
    """Whether `func`, or a test helper it calls by name, names AppTest or loads a real model by name."""
    seen = set() if seen is None else seen
    func = getattr(func, "__func__", func)
    code, scope = getattr(func, "__code__", None), getattr(func, "__globals__", {})
    if code is None or code in seen:
        return False
    seen.add(code)
    names, strings = set(), set()
    for c in _code_objects(code):
        names.update(c.co_names)
        strings.update(s for const in c.co_consts for s in _strings(const))
    strings.update(value for name in names if isinstance(value := scope.get(name), str))
    if "AppTest" in names or (names & LOADERS and strings & REAL_MODELS):
        return True
    helpers = (scope.get(name) for name in names)
    return any(
        reaches_real_model(h, seen)
        for h in helpers
        if isinstance(h, types.FunctionType) and h.__module__.split(".")[0] == "tests"
    )


def uses_real_model(item: pytest.Item) -> bool:
    """Whether a collected test needs the real models: by its fixtures, or by what its code or theirs runs."""
    if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    seen: set[types.CodeType] = set()
    fixtures = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    funcs = [getattr(item, "obj", None)] + [d.func for defs in fixtures.values() for d in defs]
    return any(f is not None and reaches_real_model(f, seen) for f in funcs)
