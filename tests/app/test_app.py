"""AppTest: every page runs with the real engine, and the controls change what is drawn."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, chart, decode
from viz.views.chapter import ENCODER_DECODER_EXAMPLE

DEFAULT_TEXT = "a fluffy blue creature roamed the verdant forest"
TIMEOUT = 120  # the first model load in a fresh cache converts weights (~30 s on 2 cores)


@pytest.fixture(scope="module")
def engine_model():
    """The same engine model the app uses, to check that drawn numbers are the model's numbers."""
    from attention_core import load_model

    return load_model("smollm2-135m", device="cpu")


def new_app(**params: str) -> AppTest:
    """The app on the page a test names, by default Attention patterns (what these tests are about; the app
    itself opens on Start here: tests/app/test_start_here.py)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"page": "patterns", **params})
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def heatmap_z(at: AppTest) -> np.ndarray:
    return decode(chart(at, "head_heatmap")["data"][0]["z"])


def test_patterns_page_shows_default_sentence_heatmap(engine_model) -> None:
    at = new_app()
    assert_clean(at)
    assert at.title[0].value == "Attention patterns"
    assert "␣ver │ d │ ant" in at.code[0].value  # "verdant" as the model split it
    fig = chart(at, "head_heatmap")
    assert fig["layout"]["xaxis"]["ticktext"][6:9] == ["␣ver", "d", "ant"]
    expected = engine_model.trace(DEFAULT_TEXT).pattern(0, 0).numpy()
    np.testing.assert_allclose(heatmap_z(at), expected, atol=1e-6)  # the model's real numbers
    assert {e.key.split("_")[0] for e in at.get("plotly_chart")} >= {"head", "heads", "overview"}
    assert at.query_params["model"] == "smollm2-135m" and at.query_params["page"] == "patterns"


def test_masking_toggle_reruns_with_and_without_causal_mask() -> None:
    at = new_app()
    masked = heatmap_z(at)
    assert at.toggle(key="causal").value is True  # SmolLM2's own masking
    assert np.all(masked[np.triu_indices_from(masked, k=1)] == 0)
    at.toggle(key="causal").set_value(False).run()
    assert_clean(at)
    unmasked = heatmap_z(at)
    assert np.any(unmasked[np.triu_indices_from(unmasked, k=1)] > 0)
    np.testing.assert_allclose(unmasked.sum(axis=1), 1.0, atol=1e-5)
    assert at.query_params["mask"] == "off"


def test_layer_and_head_selection_changes_the_figures(engine_model) -> None:
    at = new_app()
    before = heatmap_z(at)
    at.slider(key="layer").set_value(3).run()
    at.slider(key="head").set_value(2).run()
    assert_clean(at)
    after = heatmap_z(at)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, engine_model.trace(DEFAULT_TEXT).pattern(3, 2).numpy(), atol=1e-6)
    keys = [e.key for e in at.get("plotly_chart")]
    assert "heads_L3_H2" in keys and "overview_L3_H2" in keys  # selection frames follow
    assert (at.query_params["layer"], at.query_params["head"]) == ("3", "2")


def test_orientation_switch_transposes_and_says_which_way_sums_to_one() -> None:
    at = new_app()
    rows = heatmap_z(at)
    at.radio(key="orient").set_value("cols").run()
    assert_clean(at)
    np.testing.assert_allclose(heatmap_z(at), rows.T)
    assert any("Each column sums to 1" in c.value for c in at.caption)


def test_url_parameters_restore_the_view() -> None:
    at = new_app(model="minilm-l6", text="take a biopsy of the mole", layer="4", head="11", mask="on",
                 orient="cols", page="masking")
    assert_clean(at)
    assert at.title[0].value == "Scores, masking and softmax"
    assert at.selectbox(key="model").value == "minilm-l6"
    assert at.text_area(key="text").value == "take a biopsy of the mole"
    assert (at.slider(key="layer").value, at.slider(key="head").value) == (4, 11)
    assert at.toggle(key="causal").value is True  # overrides MiniLM's own (bidirectional) default
    assert at.radio(key="orient").value == "cols"
    assert "[CLS]" in at.code[0].value
    notices = [w.value for w in at.warning]  # no notice about the link; one about masking MiniLM never had
    assert len(notices) == 1 and "The causal mask is on, but" in notices[0]


def test_bad_url_values_fall_back_with_visible_notices() -> None:
    at = new_app(model="gpt-17", layer="99", head="x", orient="sideways")
    assert_clean(at)
    notices = " ".join(w.value for w in at.warning)
    assert "gpt-17" in notices and "Layer 99" in notices and "'x'" in notices and "sideways" in notices
    assert at.selectbox(key="model").value == "smollm2-135m"
    assert (at.slider(key="layer").value, at.slider(key="head").value) == (0, 0)
    assert at.radio(key="orient").value == "rows"


def test_empty_text_gets_a_message_not_a_traceback() -> None:
    at = new_app()
    at.text_area(key="text").set_value("   \n").run()
    assert_clean(at)
    assert any("empty" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_markup_in_tokens() -> None:
    at = new_app()  # (the example buttons: tests/app/test_start_here.py)
    at.text_area(key="text").set_value("a <b>cat</b> & the dog saw the").run()
    assert_clean(at)
    ticks = chart(at, "head_heatmap")["layout"]["xaxis"]["ticktext"]
    assert not any("<" in t or ">" in t for t in ticks)
    assert any("&lt;" in t for t in ticks) and ticks.count("␣the") == 2  # repeated tokens both drawn


def test_model_switch_resets_masking_to_the_models_own() -> None:
    at = new_app()
    at.slider(key="layer").set_value(20).run()
    at.selectbox(key="model").set_value("minilm-l6").run()
    assert_clean(at)
    assert at.toggle(key="causal").value is False
    assert at.slider(key="layer").value == 5  # clamped into MiniLM's 6 layers
    z = heatmap_z(at)
    assert np.any(z[np.triu_indices_from(z, k=1)] > 0)


def test_masking_page_scores_and_renormalization() -> None:
    at = new_app(page="masking", layer="2", head="1")
    assert_clean(at)
    scores = chart(at, "scores")
    z = decode(scores["data"][0]["z"])
    upper = np.triu_indices_from(z, k=1)
    assert np.isnan(z[upper]).all() and np.isfinite(z[np.tril_indices_from(z)]).all()
    assert all("−∞ (masked)" in h for h in scores["data"][1]["hovertext"])
    compare = chart(at, "compare")["data"]
    masked, unmasked, diff = (decode(d["z"]) for d in compare)
    np.testing.assert_allclose(masked.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unmasked.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(diff, masked - unmasked, atol=1e-6)
    # Renormalization: a masked row is the unmasked row over keys 0..i divided by its sum.
    i = 4
    np.testing.assert_allclose(masked[i, : i + 1], unmasked[i, : i + 1] / unmasked[i, : i + 1].sum(), rtol=1e-4)
    assert at.query_params["page"] == "masking"


@pytest.mark.parametrize("params", [{"model": "minilm-l6"}, {"model": "smollm2-135m", "mask": "off"}])
def test_masking_table_masks_the_scores_its_with_mask_weights_come_from(params: dict) -> None:
    """A pass without a mask (MiniLM; SmolLM2 with the mask off): the table's "with mask" softmax still masks
    later keys, so the score column it reads must show them as −∞ (it showed the pass's unmasked scores beside
    weights of 0)."""
    at = new_app(page="masking", layer="2", head="1", **params)
    assert_clean(at)
    table = at.dataframe[0].value
    query = next(b for b in at.selectbox if b.label == "Look at one query's row").value  # an index: q0 is 0
    later = np.arange(len(table)) > query
    assert later.any()
    assert np.isneginf(table["score the softmax sees (masked)"][later]).all()
    assert (table["weight with mask"][later] == 0).all()
    np.testing.assert_allclose(table["score the softmax sees (masked)"][~later], table["scaled score"][~later])


def test_guide_page() -> None:
    at = new_app(page="guide")
    assert_clean(at)
    assert at.title[0].value == "How to read this"
    assert "−∞" in at.markdown[0].value and "query" in at.markdown[0].value.lower()


def test_guide_counts_heads_and_shared_key_value_maps_as_the_defaults_have_them(smollm, minilm) -> None:
    """The guide said "each head has its own W_Q, W_K and value maps": not so in SmolLM2, whose query heads
    share key/value heads in groups (grouped-query attention; Inside one head says so)."""
    at = new_app(page="guide")
    text = " ".join(m.value for m in at.markdown)
    small, mini = smollm.config, minilm.config
    assert f"SmolLM2 has {small.n_layers} layers × {small.n_heads} heads" in text
    assert f"MiniLM {mini.n_layers} × {mini.n_heads}" in text
    assert small.n_kv_heads < small.n_heads and mini.n_kv_heads == mini.n_heads
    assert f"{small.n_heads} query heads share {small.n_kv_heads} key/value heads" in text
    assert "own W_Q, W_K" not in text


def test_guide_names_the_encoder_decoder_example_as_code() -> None:
    """Review at 1024 px: the plain "google-t5/t5-small" broke at its hyphen ("google-" / "t5/t5-small"), which read
    as a hyphenated word; as code it is one name to type into *Another model*."""
    text = " ".join(m.value for m in new_app(page="guide").markdown)
    assert f"`{ENCODER_DECODER_EXAMPLE}`" in text


def test_export_buttons_offer_csv_npz_svg_and_html() -> None:
    at = new_app()
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Pattern as CSV", "Pattern as NPZ", "Head as SVG", "Head as HTML"]


@pytest.mark.parametrize(("words", "beside"), [(8, True), (40, False)])
def test_a_longer_texts_head_heatmap_takes_the_pages_width(words: int, beside: bool) -> None:
    """Beside the layer's heads the heatmap had ~280 px at 1280: 66 tokens drew 4 × 12 px cells and piled their
    key labels. Past SIDE_BY_SIDE_MAX_TOKENS the heatmap has the page's width and the layer's heads go below."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": "patterns", "text": " ".join(["cat", "dog"] * (words // 2))})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    in_columns = {str(c.key) for col in at.columns for c in col.get("plotly_chart")}
    assert ("head_heatmap" in in_columns) is beside


def test_the_temperature_metric_shows_no_change_at_t_1_and_no_colour_for_one() -> None:
    """At T = 1 the entropy metric showed a green '↑ +0.000'; a change of entropy is neither good nor bad, so its
    delta has no colour, and none at all when nothing changed."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": "experiments", "text": "a fluffy blue creature roamed the verdant forest"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    entropy = [m for m in at.metric if "entropy at T" in m.label]
    assert len(entropy) == 1 and not entropy[0].delta
    at.select_slider(key="exp_T").set_value(2.0).run()
    entropy = next(m for m in at.metric if "entropy at T" in m.label)
    assert entropy.delta and "GREEN" not in str(entropy.proto) and "RED" not in str(entropy.proto)
