"""The Head atlas page through AppTest, on a small SmolLM2 atlas made by the CLI (4 documents, 2 induction
sequences): the grid and the table show the Parquet's numbers, the head card ranks the sidebar's head, and a
model without an atlas gets "Compute the atlas" instead of a traceback."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from attention_core.atlas.__main__ import main as atlas_cli
from services import atlas
from tests.app.helpers import APP, chart, decode

TEXT = "a fluffy blue creature roamed the verdant forest"


@pytest.fixture(scope="module")
def small_atlas(tmp_path_factory):
    folder = tmp_path_factory.mktemp("atlas")
    out = folder / "smollm2-135m.parquet"
    args = ["--model", "smollm2-135m", "--corpus", "default", "--limit", "4", "--max-tokens", "48", "--in-process",
            "--induction-sequences", "2", "--induction-period", "8", "--out", str(out)]  # fmt: skip
    assert atlas_cli(args) == 0
    return folder, pq.read_table(out).to_pandas()


def atlas_page(monkeypatch, shipped, **params: str) -> AppTest:
    monkeypatch.setattr(atlas, "SHIPPED", shipped)
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"text": TEXT, "layer": "3", "head": "2", **params})
    at.run()
    at.switch_page("app_pages/atlas.py").run()
    assert not at.exception, at.exception
    return at


def test_grid_and_table_show_the_atlas_numbers(monkeypatch, small_atlas):
    folder, table = small_atlas
    at = atlas_page(monkeypatch, folder)
    for stat in ("previous_token", "induction"):
        at.radio(key="atlas_stat").set_value(stat).run()
        assert not at.exception, at.exception
        expected = table[table.statistic == stat].pivot(index="layer", columns="head", values="value").to_numpy()
        grid = decode(chart(at, "atlas_grid")["data"][0]["z"]).reshape(expected.shape)
        np.testing.assert_allclose(grid, expected, rtol=1e-6)
        best = table[table.statistic == stat].sort_values("value", ascending=False).iloc[0]
        top_row = at.dataframe[0].value.iloc[0]
        assert (int(top_row["layer"]), int(top_row["head"])) == (int(best["layer"]), int(best["head"]))
        assert top_row["value"] == pytest.approx(best["value"])


def test_head_card_has_its_profile_examples_and_its_pattern_on_the_text(monkeypatch, small_atlas):
    folder, _ = small_atlas
    at = atlas_page(monkeypatch, folder)
    keys = [str(e.key) for e in at.get("plotly_chart")]
    assert "atlas_profile" in keys and "atlas_on_text" in keys
    assert sum(k.startswith("atlas_example_") for k in keys) == 3
    assert any("document" in c.value and "query" in c.value for c in at.caption)


def test_a_model_without_an_atlas_offers_to_compute_it(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "mine"))
    at = atlas_page(monkeypatch, tmp_path / "none")
    assert any("No atlas for" in i.value for i in at.info)
    assert any(b.label == "Compute the atlas" for b in at.button)


def test_the_statistic_is_in_the_link_and_a_bad_one_falls_back(monkeypatch, small_atlas):
    folder, _ = small_atlas
    monkeypatch.setattr(atlas, "SHIPPED", folder)
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"text": TEXT, "page": "atlas", "stat": "induction"})
    at.run()
    assert not at.exception, at.exception
    assert at.radio(key="atlas_stat").value == "induction"
    at.radio(key="atlas_stat").set_value("entropy").run()
    assert at.query_params["stat"] in ("entropy", ["entropy"])
    bad = AppTest.from_file(APP, default_timeout=180)
    bad.query_params.update({"text": TEXT, "page": "atlas", "stat": "<b>nope</b>"})
    bad.run()
    assert not bad.exception and bad.radio(key="atlas_stat").value == "previous_token"
    assert any("not one of the head atlas" in w.value for w in bad.warning)


def test_a_running_job_shows_its_progress_and_can_be_stopped(monkeypatch, tmp_path):
    stops = []

    class Running:
        running = True
        corpus_name = "the default corpus"

        def progress(self):
            return (3, 10)

        def stop(self):
            stops.append(True)

    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "mine"))
    monkeypatch.setattr(atlas, "running_job", lambda model: Running())
    at = atlas_page(monkeypatch, tmp_path / "none")
    assert any("3 of 10 documents" in str(p.proto.text) for p in at.get("progress"))
    at.button(key="atlas_stop").click().run()
    assert stops == [True]


# ── a corpus of one's own ──────────────────────────────────────────────────────────────────────────────────
OWN = b'{"text": "the cat sat on the mat"}\n{"text": "a dog ran in the park"}\n{"text": "**birds** <b>sing</b>"}\n'


def test_an_uploaded_corpus_can_be_computed_from_the_page(monkeypatch, small_atlas, tmp_path):
    folder, _ = small_atlas
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "mine"))
    started = []

    class Started:
        out = tmp_path / "mine" / "pending.parquet"

    monkeypatch.setattr(atlas, "start_atlas", lambda model, corpus, **kw: started.append((corpus, kw)) or Started())
    at = atlas_page(monkeypatch, folder)
    assert any(e.label == "Your own corpus" for e in at.expander)
    at.file_uploader(key="atlas_upload").set_value(("notes.jsonl", OWN, "application/json")).run()
    assert not at.exception, at.exception
    docs = at.number_input(key="atlas_own_docs")
    assert docs.value == 3 and "first of 3" in docs.label
    at.number_input(key="atlas_own_tokens").set_value(64)
    next(b for b in at.button if b.label == "Compute the atlas on this corpus").click().run()
    assert not at.exception, at.exception
    corpus, options = started[0]
    assert corpus.name == "notes.jsonl" and corpus.n_documents == 3
    assert options == {"max_tokens": 64, "limit": 3}


def test_a_bad_corpus_file_gets_a_message_not_a_traceback(monkeypatch, small_atlas, tmp_path):
    folder, _ = small_atlas
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "mine"))
    at = atlas_page(monkeypatch, folder)
    at.file_uploader(key="atlas_upload").set_value(("**x** $y$.jsonl", b"{oops\n", "text/plain")).run()
    assert not at.exception, at.exception
    assert any("cannot be used as a corpus" in e.value for e in at.error)
    shown = " ".join(c.value for c in at.code)
    assert "**x** $y$.jsonl, line 1: not valid JSON" in shown  # in a code block: literal
    assert not any(b.label == "Compute the atlas on this corpus" for b in at.button)


def test_the_page_offers_each_corpus_atlas_and_shows_the_one_picked(monkeypatch, small_atlas, tmp_path):
    folder, _ = small_atlas
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "mine"))
    stored = atlas.store_corpus("**notes**.jsonl", OWN)
    mine = tmp_path / "smollm2-135m-0123-corpus-0123456789ab.parquet"
    args = ["--model", "smollm2-135m", "--corpus", str(stored.path), "--corpus-name", stored.name, "--in-process",
            "--max-tokens", "16", "--induction-sequences", "2", "--induction-period", "8",
            "--out", str(mine)]  # fmt: skip
    assert atlas_cli(args) == 0
    monkeypatch.setattr(atlas, "atlas_choices", lambda model: [
        atlas.AtlasChoice(folder / "smollm2-135m.parquet", "the default corpus", 4, uploaded=False),
        atlas.AtlasChoice(mine, "**notes**.jsonl", 3, uploaded=True),
    ])  # fmt: skip
    at = atlas_page(monkeypatch, folder)
    picker = at.selectbox(key="atlas_corpus")
    assert picker.value == str(folder / "smollm2-135m.parquet")
    picker.set_value(str(folder / "smollm2-135m.parquet")).run()
    at.session_state["_atlas_pending"] = str(mine)  # as "Compute the atlas on this corpus" leaves it; now done
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="atlas_corpus").value == str(mine)  # the finished atlas is shown
    table = pq.read_table(mine).to_pandas()
    expected = table[table.statistic == "previous_token"].pivot(index="layer", columns="head", values="value")
    grid = decode(chart(at, "atlas_grid")["data"][0]["z"]).reshape(expected.shape)
    np.testing.assert_allclose(grid, expected.to_numpy(), rtol=1e-6)
    caption = next(c.value for c in at.caption if "repeated random sequences" in c.value)
    assert "over 3 documents of ` '**notes**.jsonl' `" in caption  # the name, inside a code span


def test_a_failed_job_on_an_uploaded_corpus_says_so_in_its_panel(monkeypatch, small_atlas, tmp_path):
    class Failed:
        running = False
        corpus_name = "notes.jsonl"

        def error(self):
            return "error: notes.jsonl holds no documents"

    folder, _ = small_atlas
    monkeypatch.setenv("ATTN_ATLAS_DIR", str(tmp_path / "mine"))
    monkeypatch.setattr(atlas, "running_job", lambda model: Failed())
    at = atlas_page(monkeypatch, folder)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "The atlas job on ` 'notes.jsonl' ` failed" in errors[0] and "no documents" in errors[0]


def test_a_link_opens_the_atlas_of_its_corpus_and_says_when_this_server_has_none(monkeypatch, small_atlas, tmp_path):
    folder, _ = small_atlas
    default = folder / "smollm2-135m.parquet"
    mine = tmp_path / "smollm2-135m-0123-corpus-0123456789ab.parquet"
    for suffix in (".parquet", ".examples.parquet"):  # the default atlas's files stand in for an uploaded one's
        mine.with_name(mine.name.replace(".parquet", suffix)).write_bytes(default.with_name(default.name.replace(
            ".parquet", suffix)).read_bytes())  # fmt: skip
    monkeypatch.setattr(atlas, "atlas_choices", lambda model: [
        atlas.AtlasChoice(default, "the default corpus", 4, uploaded=False),
        atlas.AtlasChoice(mine, "notes.jsonl", 3, uploaded=True),
    ])  # fmt: skip
    monkeypatch.setattr(atlas, "SHIPPED", folder)
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"text": TEXT, "page": "atlas", "corpus": "0123456789ab"})
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="atlas_corpus").value == str(mine)
    assert at.query_params["corpus"] in ("0123456789ab", ["0123456789ab"])
    at.selectbox(key="atlas_corpus").set_value(str(default)).run()
    assert "corpus" not in at.query_params  # the default corpus: the link says nothing
    at.selectbox(key="atlas_corpus").set_value(str(mine)).run()
    assert at.query_params["corpus"] in ("0123456789ab", ["0123456789ab"])  # a pick goes into the link at once
    elsewhere = AppTest.from_file(APP, default_timeout=180)
    elsewhere.query_params.update({"text": TEXT, "page": "atlas", "corpus": "ffffffffffff"})
    elsewhere.run()
    assert elsewhere.selectbox(key="atlas_corpus").value == str(default)
    assert any("no atlas of the corpus" in w.value for w in elsewhere.warning)
    switched = AppTest.from_file(APP, default_timeout=180)  # another model's corpus, picked in this session
    switched.query_params.update({"text": TEXT, "page": "atlas"})
    switched.session_state["atlas_corpus_choice"] = "ffffffffffff"
    switched.run()
    assert switched.selectbox(key="atlas_corpus").value == str(default)
    assert not any("no atlas of the corpus" in w.value for w in switched.warning)
    assert "corpus" not in switched.query_params


def test_the_atlas_can_be_downloaded_whole(monkeypatch, small_atlas):
    folder, table = small_atlas
    at = atlas_page(monkeypatch, folder)
    labels = [b.label for b in at.get("download_button")]
    assert "Atlas as CSV" in labels and "Atlas as Parquet" in labels
    csv = pd.read_csv(io.BytesIO(atlas.atlas_csv(folder / "smollm2-135m.parquet")))
    assert list(csv.columns) == list(table.columns) and len(csv) == len(table)
    np.testing.assert_array_equal(csv["value"].to_numpy(), table["value"].to_numpy())  # full precision, NaN kept


def test_two_statistics_of_every_head_and_the_lowest_first(monkeypatch, small_atlas):
    """The scatter puts every head at (its value of one statistic, of another), as the Parquet says; the table
    can list the lowest values first (entropy: the most focused heads); each statistic says what it measures."""
    folder, table = small_atlas
    at = atlas_page(monkeypatch, folder)
    at.selectbox(key="atlas_x").set_value("first_token")
    at.selectbox(key="atlas_y").set_value("mean_distance").run()
    assert not at.exception, at.exception
    points = chart(at, "atlas_scatter")["data"][0]
    values = {(r.layer, r.head, r.statistic): r.value for r in table.itertuples()}
    custom = [tuple(map(int, c)) for c in decode(points["customdata"]).reshape(-1, 2)]
    assert len(custom) == len(table[table.statistic == "first_token"])
    np.testing.assert_allclose(decode(points["x"]), [values[(layer, h, "first_token")] for layer, h in custom])
    np.testing.assert_allclose(decode(points["y"]), [values[(layer, h, "mean_distance")] for layer, h in custom])
    at.radio(key="atlas_stat").set_value("entropy").run()
    at.toggle(key="atlas_lowest").set_value(True).run()
    lowest = table[table.statistic == "entropy"].sort_values("value").iloc[0]
    top_row = at.dataframe[0].value.iloc[0]
    assert (int(top_row["layer"]), int(top_row["head"])) == (int(lowest["layer"]), int(lowest["head"]))
    assert any("most focused" in c.value for c in at.caption)


def test_the_default_corpus_is_named_by_its_sources_and_hash(monkeypatch, small_atlas):
    folder, _ = small_atlas
    at = atlas_page(monkeypatch, folder)
    said = " ".join(c.value for c in at.caption)
    assert "kjv (" in said and "wordnet (" in said and "SOURCES.md" in said and "sha256" in said


def test_an_atlas_made_before_the_statistics_changed_says_so(monkeypatch, small_atlas, tmp_path):
    """Atlases computed before self, mean distance and duplicate token changed definition (no statistics_version in
    their metadata) keep their old numbers: the page says so beside them and offers no silent mix."""
    import json

    from attention_core.atlas.statistics import STATISTICS_VERSION
    from attention_core.atlas.tables import META_KEY, examples_path

    folder, _ = small_atlas
    assert atlas.load_atlas(folder / "smollm2-135m.parquet").settings["statistics_version"] == STATISTICS_VERSION
    old = tmp_path / "old"
    old.mkdir()
    for name in ("smollm2-135m.parquet", "smollm2-135m.examples.parquet"):
        table = pq.read_table(folder / name)
        meta = json.loads(table.schema.metadata[META_KEY])
        meta.pop("statistics_version")
        pq.write_table(table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()}), old / name)
    assert examples_path(old / "smollm2-135m.parquet").is_file()
    at = atlas_page(monkeypatch, old)
    assert any("before" in w.value and "duplicate token" in w.value for w in at.warning), [w.value for w in at.warning]


def _example_values(at: AppTest) -> list[float]:
    """The values the example captions show ("document 3, query 12 — value 0.981; …"), in order."""
    import re

    return [float(m.group(1)) for c in at.caption if (m := re.search(r"— value (-?[0-9.]+);", c.value))]


def test_ranked_lowest_first_the_head_shows_its_lowest_examples(monkeypatch, small_atlas, tmp_path):
    """Ranked lowest first (entropy: the most focused heads), the head's examples were still its highest-entropy,
    most spread queries. They follow the table's order now; an atlas made before the lowest were kept says so."""
    folder, _ = small_atlas
    examples = pq.read_table(folder / "smollm2-135m.examples.parquet").to_pandas()
    mine = examples[(examples.statistic == "entropy") & (examples.layer == 3) & (examples["head"] == 2)]
    at = atlas_page(monkeypatch, folder, stat="entropy")
    highest = mine[mine.end == "highest"].sort_values("rank").value.round(3).tolist()
    assert _example_values(at) == pytest.approx(highest, abs=1e-3)
    at.toggle(key="atlas_lowest").set_value(True).run()
    lowest = mine[mine.end == "lowest"].sort_values("rank").value.round(3).tolist()
    assert _example_values(at) == pytest.approx(lowest, abs=1e-3) and lowest[0] < highest[-1]
    assert any("lowest-value queries" in m.value for m in at.markdown)
    old = tmp_path / "old"  # the same atlas as one made before: highest examples only, no `end` column
    old.mkdir()
    pq.write_table(pq.read_table(folder / "smollm2-135m.parquet"), old / "smollm2-135m.parquet")
    kept = pq.read_table(folder / "smollm2-135m.examples.parquet").to_pandas()
    kept = kept[kept.end == "highest"].drop(columns="end")
    pq.write_table(pa_table(kept, folder), old / "smollm2-135m.examples.parquet")
    at = atlas_page(monkeypatch, old, stat="entropy")
    at.toggle(key="atlas_lowest").set_value(True).run()
    assert _example_values(at) == pytest.approx(highest, abs=1e-3)
    assert any("computed before the lowest were kept" in c.value for c in at.caption)


def pa_table(frame: pd.DataFrame, folder) -> object:
    """`frame` as an Arrow table with the run's settings the atlas files carry (tables.META_KEY)."""
    import pyarrow as pa

    meta = pq.read_table(folder / "smollm2-135m.examples.parquet").schema.metadata
    return pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(meta)


def test_lowest_first_is_in_the_link_and_a_bad_end_falls_back(monkeypatch, small_atlas):
    """A link to the table ranked lowest first opens it so (it sets which examples a click on a head opens), the
    toggle goes into the address, and an unknown end gets a notice, not a traceback."""
    folder, table = small_atlas
    at = atlas_page(monkeypatch, folder, page="atlas", stat="entropy", end="lowest")
    assert at.toggle(key="atlas_lowest").value is True
    lowest = table[table.statistic == "entropy"].sort_values("value").iloc[0]
    top_row = at.dataframe[0].value.iloc[0]
    assert (int(top_row["layer"]), int(top_row["head"])) == (int(lowest["layer"]), int(lowest["head"]))
    assert at.query_params["end"] in ("lowest", ["lowest"])
    at.toggle(key="atlas_lowest").set_value(False).run()
    assert "end" not in at.query_params  # highest first is the default: the link says nothing
    at.toggle(key="atlas_lowest").set_value(True).run()
    assert at.query_params["end"] in ("lowest", ["lowest"])
    at.switch_page("app_pages/patterns.py").run()
    assert "end" not in at.query_params  # the field belongs to the atlas page's link
    at.switch_page("app_pages/atlas.py").run()
    assert at.toggle(key="atlas_lowest").value is True  # kept across a page switch
    bad = AppTest.from_file(APP, default_timeout=180)
    bad.query_params.update({"text": TEXT, "page": "atlas", "end": "<b>sideways</b>"})
    bad.run()
    assert not bad.exception and bad.toggle(key="atlas_lowest").value is False
    assert any("not highest or lowest" in w.value for w in bad.warning)


def test_the_ranking_table_s_columns_fit_every_statistic_s_numbers():
    """The table keeps its columns' widths when the statistic changes: sized for shares (0.9970), mean distance's
    102.3454 showed as "02.3454" (browser review, 1280 px, the shipped SmolLM2 atlas). Every number column has a
    width that fits the longest number any statistic puts in it."""
    import json

    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"text": TEXT, "page": "atlas"})
    at.run()
    from viz.views.atlas import STATISTIC_LABELS

    for stat in STATISTIC_LABELS:
        at.radio(key="atlas_stat").set_value(stat).run()
        assert not at.exception, at.exception
        table = at.dataframe[0]
        config = json.loads(table.proto.columns)
        # Review: "179011" queries read as a code; counts are shown with thousands separators ("179,011").
        assert config["queries"]["type_config"]["format"] == "localized", config["queries"]
        for column, fmt in (("value", "{:.4f}"), ("queries", "{:,d}"), ("rank", "{:d}")):
            longest = max(len(fmt.format(v)) for v in table.value[column])
            width = config.get(column, {}).get("width")
            assert isinstance(width, int) and width >= TABLE_CHAR_PX * longest + TABLE_CELL_PADDING_PX, (stat, column)


TABLE_CHAR_PX, TABLE_CELL_PADDING_PX = 7.5, 16  # st.dataframe's 14 px digits, and a cell's padding (both sides)
