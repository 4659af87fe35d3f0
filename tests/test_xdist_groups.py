"""`make test`'s worker groups (tests/conftest.py): the browser tests are split between two app servers, and the
tests that share transformers' copy of SmolLM2, or a local Ray, stay on one worker."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from tests.conftest import APP_SERVER_OF, BROWSER_DIR, xdist_group_of


def _item(path: Path, *fixtures: str) -> SimpleNamespace:
    return SimpleNamespace(path=path, fixturenames=list(fixtures), get_closest_marker=lambda name: None)


def test_browser_files_are_split_between_two_app_servers_and_stay_whole() -> None:
    files = sorted(BROWSER_DIR.glob("test_*.py"))
    groups = {f.name: xdist_group_of(_item(f, "page", "app_url")) for f in files}
    assert set(groups.values()) == {"app-server-1", "app-server-2"}, groups
    # A file's tests share one server: its group depends on the file alone.
    assert all(xdist_group_of(_item(f, "app_url", "shots")) == groups[f.name] for f in files)


def test_the_files_moved_to_even_out_the_servers_exist_and_moved() -> None:
    # A renamed file would silently fall back to the hash and undo the balance.
    for name, server in APP_SERVER_OF.items():
        assert (BROWSER_DIR / name).is_file(), name
        assert xdist_group_of(_item(BROWSER_DIR / name, "app_url")) == f"app-server-{server}"


def test_other_groups_and_ungrouped_tests() -> None:
    here = Path(__file__)
    assert xdist_group_of(_item(here, "hf_smollm", "smollm")) == "hf-smollm"
    assert xdist_group_of(_item(here, "tiny", "local_ray")) == "ray"
    assert xdist_group_of(_item(here, "smollm", "tmp_path")) is None
    doctest = SimpleNamespace(path=here, get_closest_marker=lambda name: None)  # an item without fixtures
    assert xdist_group_of(doctest) is None


def _marked(path: Path, *args: str, fixtures: tuple[str, ...] = ()) -> SimpleNamespace:
    marker = SimpleNamespace(args=args)
    return SimpleNamespace(path=path, fixturenames=list(fixtures), get_closest_marker=lambda name: marker)


def test_a_one_worker_module_stays_on_one_worker_or_joins_its_browser_group() -> None:
    here = Path(__file__)
    assert xdist_group_of(_marked(here)) == "module-test_xdist_groups"
    assert xdist_group_of(_marked(here, fixtures=("smollm",))) == "module-test_xdist_groups"
    # A module with a browser test: its other tests join that test's app server.
    browser_test = xdist_group_of(_item(here, "app_url"))
    assert xdist_group_of(_marked(here, "app-server")) == browser_test
    assert xdist_group_of(_marked(here, "app-server", fixtures=("app_url",))) == browser_test
    # A shared fixture's own group comes first (transformers' SmolLM2 stays on its one worker).
    assert xdist_group_of(_marked(here, fixtures=("hf_smollm",))) == "hf-smollm"


def test_the_modules_marked_one_worker_build_a_module_scoped_fixture() -> None:
    # The marker is for modules whose tests share a costly module-scoped fixture; a stale one would only
    # unbalance the workers.
    root = Path(__file__).parent
    marked = [p for p in root.rglob("test_*.py") if re.search(r"^pytestmark = .*mark\.one_worker", p.read_text(), re.M)]
    assert len(marked) >= 6, marked
    for path in marked:
        assert re.search(r'@pytest\.fixture\(scope="module"', path.read_text()), path
