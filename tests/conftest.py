"""What every test folder shares: the session's app server and Chromium, the real models, and the markers that
sort tests into tiers.

Browser: Playwright's sync API allows one running instance per process, and `make test` runs every folder in one
pytest process, so there is one Chromium and one `streamlit run app.py` for the whole session; each test gets a
fresh browser context (tests/browser/conftest.py). See devtools/browser.py.

Models: each real model is loaded once per session. `smollm` and `minilm` come straight from the engine;
`smol` is SmolLM2 as the app holds it (the process-wide model that AppTest runs of the app share).

Markers (`make test-fast` deselects them): a test is marked `real_model` when it uses a real-model fixture, runs
the app through AppTest (which loads the real default model), or loads a real model by name; every test under
tests/browser/ is marked `browser`.
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devtools.browser import CHROMIUM, ROOT, app_server, chromium
from tests.texts import FLUFFY

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the reference (transformers) reads local files only

REAL_MODELS = {"smollm2-135m", "minilm-l6"}
REAL_MODEL_FIXTURES = {"smollm", "minilm", "hf_smollm", "hf_minilm", "smol"}  # and all built on them (fluffy)
LOADERS = {"load_model", "load"}  # attention_core.load_model, the app's engine.load
BROWSER_DIR = Path(__file__).resolve().parent / "browser"


# --- the app in a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    """The app for every browser test (log under test-artifacts/); skips when Chromium is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    with app_server(ROOT / "test-artifacts" / "streamlit-browser-tests.log") as (url, _proc):
        yield url


@pytest.fixture(scope="session")
def browser(app_url: str):
    with chromium() as b:
        yield b


# --- real models -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def smollm():
    from attention_core import load_model

    return load_model("smollm2-135m", device="cpu")


@pytest.fixture(scope="session")
def minilm():
    from attention_core import load_model

    return load_model("minilm-l6", device="cpu")


@pytest.fixture(scope="session")
def hf_smollm(smollm):
    """transformers loading the same GGUF file as `smollm`: the parity tests' reference."""
    transformers = pytest.importorskip("transformers")
    import torch

    path: Path = smollm.source
    kwargs = {"gguf_file": path.name}
    tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), **kwargs)
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), dtype=torch.float32, attn_implementation="eager", **kwargs
    )
    return tok, hf.eval()


@pytest.fixture(scope="session")
def hf_minilm(minilm):
    """transformers loading the same folder as `minilm`."""
    transformers = pytest.importorskip("transformers")
    folder = str(minilm.source)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    hf = transformers.AutoModel.from_pretrained(folder, attn_implementation="eager")
    return tok, hf.eval()


@pytest.fixture(scope="session")
def smol():
    """SmolLM2 as the app holds it: the process-wide model the app shares."""
    from viz import engine

    return engine.load("smollm2-135m", "cpu")


@pytest.fixture(scope="session")
def fluffy(smol):
    return smol.trace(FLUFFY)


# --- markers ---------------------------------------------------------------------------------------------


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _reaches_real_model(func: Callable, seen: set[types.CodeType]) -> bool:
    """Whether `func`, or a test helper it calls by name, names AppTest or loads a real model by name."""
    func = getattr(func, "__func__", func)
    code, scope = getattr(func, "__code__", None), getattr(func, "__globals__", {})
    if code is None or code in seen:
        return False
    seen.add(code)
    names, strings = set(), set()
    for c in _code_objects(code):
        names.update(c.co_names)
        strings.update(const for const in c.co_consts if isinstance(const, str))
    strings.update(value for name in names if isinstance(value := scope.get(name), str))
    if "AppTest" in names or (names & LOADERS and strings & REAL_MODELS):
        return True
    helpers = (scope.get(name) for name in names)
    return any(
        _reaches_real_model(h, seen)
        for h in helpers
        if isinstance(h, types.FunctionType) and h.__module__.split(".")[0] == "tests"
    )


def _uses_real_model(item: pytest.Item) -> bool:
    if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    seen: set[types.CodeType] = set()
    fixtures = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    funcs = [getattr(item, "obj", None)] + [d.func for defs in fixtures.values() for d in defs]
    return any(f is not None and _reaches_real_model(f, seen) for f in funcs)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if BROWSER_DIR in item.path.parents:
            item.add_marker(pytest.mark.browser)
        if _uses_real_model(item):
            item.add_marker(pytest.mark.real_model)
