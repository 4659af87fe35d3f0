"""What every test folder shares: the session's app server and Chromium, the real models, and the markers that
sort tests into tiers.

Browser: Playwright's sync API allows one running instance per process, so there is one Chromium and one
`streamlit run app.py` per pytest process (`make test` runs three workers, two of them each with half of the browser
tests; see below); each test gets a fresh browser context (tests/browser/conftest.py). See devtools/browser.py.

Models: each real model is loaded once per session, as the app holds it (services.models.load keeps one per
process), so engine tests, view-model tests and AppTest runs of the app share one copy of each.

Markers (`make test-fast` deselects them): a test is marked `real_model` when it uses a real-model fixture, runs
the app through AppTest (which loads the real default model), or loads a real model by name (tests/tiers.py); one
whose code imports `ray` or calls `run_on_ray` is marked `ray`; every test under tests/browser/ is marked `browser`.
"""

from __future__ import annotations

import functools
import os
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devtools.browser import CHROMIUM, ROOT, app_server, chromium
from tests.texts import FLUFFY
from tests.tiers import uses_ray, uses_real_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the reference (transformers) reads local files only

BROWSER_DIR = Path(__file__).resolve().parent / "browser"


# --- the app in a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the browser tests' app server loads local models from (a test saves a tiny one there and loads it
    through *Another model*)."""
    return tmp_path_factory.mktemp("browser-models")


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory, browser_models: Path) -> Iterator[str]:
    """The app for every browser test (log under test-artifacts/); skips when Chromium is missing. Atlases and
    corpora the tests upload go to a folder of the run's own, not the user's cache."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")  # each xdist worker with browser tests has its own server
    env = {"ATTN_ATLAS_DIR": str(tmp_path_factory.mktemp("atlases")), "ATTN_ALLOWED_MODEL_DIRS": str(browser_models)}
    with app_server(ROOT / "test-artifacts" / f"streamlit-browser-tests-{worker}.log", env) as (url, _proc):
        yield url


@pytest.fixture(scope="session")
def browser(app_url: str):
    with chromium() as b:
        yield b


# --- AppTest ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _streamlit_component_scan_once() -> None:
    """Each new AppTest has Streamlit scan every installed package's metadata for custom components: 0.9 s on 2
    cores here, and the suite makes hundreds of AppTests. The packages cannot change during a run, so once the
    scanner is loaded (by a process's first AppTest) its answer is kept for the rest of the process."""
    scanner = sys.modules.get("streamlit.components.v2.manifest_scanner")
    if scanner is not None and not hasattr(scanner.scan_component_manifests, "cache_info"):
        scanner.scan_component_manifests = functools.cache(scanner.scan_component_manifests)


# --- real models -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def smollm():
    """SmolLM2 as the app holds it (services.models.load: one process-wide model), so engine tests, view-model
    tests and AppTest runs of the app all share one copy."""
    from services import models

    return models.load("smollm2-135m", "cpu")


@pytest.fixture(scope="session")
def minilm():
    """MiniLM, likewise shared with the app."""
    from services import models

    return models.load("minilm-l6", "cpu")


@pytest.fixture(scope="session")
def hf_smollm(smollm):
    """transformers loading the same GGUF file as `smollm`: the parity tests' reference."""
    transformers = pytest.importorskip("transformers")
    import torch

    path: Path = smollm.source
    kwargs = {"gguf_file": path.name}
    with reused_gguf_parsing():
        tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), **kwargs)
        hf = transformers.AutoModelForCausalLM.from_pretrained(
            str(path.parent), dtype=torch.float32, attn_implementation="eager", **kwargs
        )
    return tok, hf.eval()


@contextmanager
def reused_gguf_parsing() -> Iterator[None]:
    """transformers' GGUF loading parses the file three times (tokenizer, config, weights; ~8 s each here) and
    rebuilds gguf's tensor-name map for each of the model's tensors (~12 s in all). One reader per file and one
    map per (architecture, layers) give the same model in about a third of the time: the reader is a read-only
    memory map, the map a pure function of its arguments. transformers imports both from `gguf` at call time."""
    import gguf

    real_reader, real_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict[tuple, object] = {}

    def reader(path, *args, **kwargs):
        key = (str(path), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = real_reader(path, *args, **kwargs)
        return readers[key]

    gguf.GGUFReader, gguf.get_tensor_name_map = reader, functools.lru_cache(maxsize=None)(real_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = real_reader, real_map


@pytest.fixture(scope="session")
def hf_minilm(minilm):
    """transformers loading the same folder as `minilm`."""
    transformers = pytest.importorskip("transformers")
    folder = str(minilm.source)
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    hf = transformers.AutoModel.from_pretrained(folder, attn_implementation="eager")
    return tok, hf.eval()


@pytest.fixture(scope="session")
def fluffy(smollm):
    return smollm.trace(FLUFFY)


# --- markers ---------------------------------------------------------------------------------------------


# `make test` runs the suite on three pytest-xdist workers (`--dist loadgroup`). Tests that share an expensive
# fixture go to one worker, so each is built once per group: transformers' copy of SmolLM2 (about 40 s to
# dequantise), the app server with Chromium, and a local Ray (tests/atlas/test_job.py). The browser tests are about
# half of the suite's time, so they are split into two groups by their file's name, each with its own server and
# Chromium: one worker alone would be the suite's long pole. Everything else is shared out test by test. A browser
# test mostly waits on its server and Chromium, so with two workers the cores sat idle for 17 % of a browser-only
# run; a third worker, without a browser, runs CPU-bound tests in that time (2026-12-02, one checkout, the whole
# suite: 978 s of tests on two workers, 910 s on three, ~2 % idle).
# The split: a hash of the file's name, but for the files in APP_SERVER_OF, moved to even out the two groups
# (one full run on three workers, 2026-12-02: 668 s and 487 s by the hash alone; xss and head-finder clicks,
# 92 s, moved to the second; 2026-12-04 at e79bcd2, after the small-screen tests shrank: 458 s and 346 s, the first
# group the suite's long pole in a 476 s run; token pickers and the thumbnails' toolbar, 53 s, moved too).
# A module marked `one_worker` keeps its tests on one worker: shared out test by test, each worker that ran one of
# them built the module's costly module-scoped fixtures again (a full run, 2026-12-07: tiny vision-language models
# saved by transformers, a venv with the package installed, a notebook kernel, a 1,000-token AppTest, each built on
# two to five workers, ~100 s of set-up in all). `one_worker("app-server")` joins the file's browser-test group,
# for a module one of whose tests needs the browser.
# xdist 3.8 groups by an "@group" suffix on the node id, which it writes to `item._nodeid`; pytest 9 keeps the
# id in `item._id` and ignores that, so the suffix is written here (only on an xdist worker with loadgroup).
XDIST_GROUPS = (("app_url", "app-server"), ("hf_smollm", "hf-smollm"), ("local_ray", "ray"))
APP_SERVER_GROUPS = 2
APP_SERVER_OF = {
    "test_xss_browser.py": 2,
    "test_head_finder_clicks_browser.py": 2,
    "test_token_pickers_browser.py": 2,
    "test_thumbnail_toolbar_browser.py": 2,
}


def xdist_group_of(item: pytest.Item) -> str | None:
    """The item's loadgroup name, or None when it may run on any worker."""
    fixtures = getattr(item, "fixturenames", ())
    group = next((name for fixture, name in XDIST_GROUPS if fixture in fixtures), None)
    marker = item.get_closest_marker("one_worker")
    if group is None and marker is not None:  # the module's tests share a costly module-scoped fixture
        group = marker.args[0] if marker.args else f"module-{item.path.stem}"
    if group == "app-server":
        # crc32, not hash(): the same split in every worker process (str hashes are salted per process).
        name = item.path.name
        group += f"-{APP_SERVER_OF.get(name) or zlib.crc32(name.encode()) % APP_SERVER_GROUPS + 1}"
    return group


def _xdist_group(config: pytest.Config, item: pytest.Item) -> None:
    group = xdist_group_of(item)
    if group is not None and getattr(config.option, "loadgroup", False) and not item.nodeid.endswith("@" + group):
        from _pytest.nodeid import coerce_node_id

        item._id = coerce_node_id(f"{item.nodeid}@{group}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if BROWSER_DIR in item.path.parents:
            item.add_marker(pytest.mark.browser)
        if uses_real_model(item):
            item.add_marker(pytest.mark.real_model)
        if uses_ray(item):
            item.add_marker(pytest.mark.ray)
        _xdist_group(config, item)
