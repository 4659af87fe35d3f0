"""Which tests need the real models or a local Ray: tests/conftest.py marks them `real_model` and `ray`, and
`make test-fast` leaves them out.

A test needs the real models when it uses a real-model fixture (tests/conftest.py), or when its code, its fixtures'
code, or a test helper they call by name runs the app through AppTest (the app loads the real default model), loads
a real model by name (`load_model("minilm-l6")`, `engine.load(MODEL, ...)` with MODEL a module constant) or asks
for a real-model fixture by name (`request.getfixturevalue("smollm")`). It starts a local Ray when that code
imports `ray` or calls `run_on_ray`.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator

import pytest

REAL_MODELS = {"smollm2-135m", "minilm-l6"}
REAL_MODEL_FIXTURES = {"smollm", "minilm", "hf_smollm", "hf_minilm"}  # and all built on them (fluffy)
LOADERS = {"load_model", "load"}  # attention_core.load_model, services.models.load
FIXTURE_LOOKUP = "getfixturevalue"
RAY_NAMES = {"ray", "run_on_ray"}  # `import ray`, attention_core.atlas.job.run_on_ray


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


def _loads_real_model(names: set[str], strings: set[str]) -> bool:
    return (
        "AppTest" in names
        or bool(names & LOADERS and strings & REAL_MODELS)
        or bool(FIXTURE_LOOKUP in names and strings & REAL_MODEL_FIXTURES)
    )


def _starts_ray(names: set[str], strings: set[str]) -> bool:
    return bool(names & RAY_NAMES)


def _reaches(func: Callable, found: Callable[[set[str], set[str]], bool], seen: set[types.CodeType]) -> bool:
    """Whether `found` holds for the names and strings of `func`'s code or of a test helper it calls by name."""
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
    if found(names, strings):
        return True
    helpers = (scope.get(name) for name in names)
    return any(
        _reaches(h, found, seen)
        for h in helpers
        if isinstance(h, types.FunctionType) and h.__module__.split(".")[0] == "tests"
    )


def reaches_real_model(func: Callable, seen: set[types.CodeType] | None = None) -> bool:
    """Whether `func`, or a test helper it calls by name, runs the app or loads a real model."""
    return _reaches(func, _loads_real_model, set() if seen is None else seen)


def starts_ray(func: Callable) -> bool:
    """Whether `func`, or a test helper it calls by name, starts a local Ray."""
    return _reaches(func, _starts_ray, set())


def uses_real_model(item: pytest.Item) -> bool:
    """Whether a collected test needs the real models: by its fixtures, or by what its code or theirs runs."""
    if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    seen: set[types.CodeType] = set()
    return any(reaches_real_model(f, seen) for f in _test_and_fixture_functions(item))


def uses_ray(item: pytest.Item) -> bool:
    """Whether a collected test, or one of its fixtures, starts a local Ray."""
    return any(starts_ray(f) for f in _test_and_fixture_functions(item))


def _test_and_fixture_functions(item: pytest.Item) -> list[Callable]:
    fixtures = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    funcs = [getattr(item, "obj", None)] + [d.func for defs in fixtures.values() for d in defs]
    return [f for f in funcs if f is not None]
