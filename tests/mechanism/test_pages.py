"""AppTest of every mechanism page through the real shell (app.py): no exception, engine numbers shown."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import ROOT, decode, keyed  # one decoder for Plotly's base64 arrays
from viz.labels import percent
from viz.views.cross import DEFAULT_SOURCE, DEFAULT_TARGET, PromptCross, build_prompt
from viz.views.heads import STAT_COLUMNS, all_patterns, head_statistics

APP = str(ROOT / "app.py")
PAGES = ["inside_head", "embedding_shifts", "head_finder", "cross_attention", "parameters"]
TIMEOUT = 180  # generous: two other engineers share these 2 cores


def chart(at: AppTest, key: str) -> dict:
    for element in at.get("plotly_chart"):
        if getattr(element, "key", None) == key:
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key!r}")


def open_page(page: str, at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(f"app_pages/{page}.py")
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_inside_head_matches_engine(fluffy) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.slider(key="layer").set_value(16).run()
    at = open_page("inside_head", at)
    assert_clean(at)
    pattern = decode(chart(at, "mech_pattern")["data"][0]["z"])
    np.testing.assert_allclose(pattern, fluffy.pattern(16, 0).numpy(), atol=1e-6)  # step-by-step softmax == engine
    scaled = decode(chart(at, "mech_scaled")["data"][0]["z"])
    # The page recomputes E·W_Q, RoPE and q·k itself; the engine multiplies by the fused W_Q|W_K|W_V. Same
    # math, different float32 summation order: scores reach ~17, so allow 1e-5 relative (seen: 4e-6).
    np.testing.assert_allclose(scaled, fluffy.scores(16, 0).numpy(), rtol=1e-5, atol=1e-5)
    masked = decode(chart(at, "mech_masked")["data"][0]["z"])
    assert np.all(np.isnan(masked[np.triu_indices(10, 1)]))  # −∞ drawn as grey gaps
    assert "[10 × 576]" in chart(at, "mech_E")["layout"]["title"]["text"]
    assert "[576 × 576]" in chart(at, "mech_WO_all")["layout"]["title"]["text"]
    assert any("shares" in i.value or "share" in i.value for i in at.info)  # GQA note
    keyed(at, "selectbox", "mech_cell_query").set_value(3).run()
    keyed(at, "selectbox", "mech_cell_key").set_value(2).run()
    code = at.code[1].value
    w = float(fluffy.pattern(16, 0)[3, 2])
    assert f"= {w:.6g}\n" in code and code.strip().endswith(f"{w:.6g}")
    keyed(at, "selectbox", "mech_cell_key").set_value(5).run()
    assert "masked" in at.code[1].value and at.code[1].value.strip().endswith("= 0")


def test_embedding_shifts_sum_to_attention_output(fluffy) -> None:
    at = open_page("embedding_shifts")
    assert_clean(at)
    table = at.dataframe[0].value
    expected = fluffy.attn_out(0)[3].numpy()
    assert table["source"][3].endswith("creature")
    assert table["share of Δe"].sum() == pytest.approx(1.0, abs=1e-4)  # SmolLM2 has no b_O: sources alone make Δe
    assert any("to within" in c.value for c in at.caption)
    norms = decode(chart(at, "mech_norms")["data"][0]["x"])
    assert norms[4:].max() == 0 and norms[:4].min() > 0 and np.linalg.norm(expected) > 0
    mole = at.dataframe[1].value
    assert list(mole["sentence"]) == ["American shrew mole", "one mole of carbon dioxide", "take a biopsy of the mole"]
    assert "cannot affect" in mole["context"][1]
    assert any("reads left to right" in i.value for i in at.info)
    cos = chart(at, "mech_mole_cos")["data"]
    assert len(cos) == 3 and all(decode(t["y"])[0] == pytest.approx(1.0, abs=1e-5) for t in cos)
    at.text_input(key="mech_word").set_value("giraffe").run()
    assert_clean(at)
    assert any("does not occur" in w.value for w in at.warning)


def test_embedding_shifts_bidirectional_model() -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.selectbox(key="model").set_value("minilm-l6").run()
    at = open_page("embedding_shifts", at)
    assert_clean(at)
    assert not any("reads left to right" in i.value for i in at.info)
    assert "sees the words after it" in at.dataframe[1].value["context"][1]
    # [CLS], moved ~4x as far as the others by layer 0's attention, would squash the arrows' picture: left out.
    assert at.session_state["layer"] == 0 and at.checkbox(key="mech_skip_first").value
    cos = chart(at, "mech_mole_cos")["data"]
    assert all(decode(t["y"])[0] < 0.9999 for t in cos)  # BERT adds position embeddings: not identical at first


def test_head_finder_ranks_and_tabulates(fluffy) -> None:
    at = open_page("head_finder")
    assert_clean(at)
    best = float(fluffy.pattern(16, 0)[3, [1, 2]].sum())
    assert at.metric[0].label == "Best head: layer 16, head 0" and at.metric[0].value == percent(best)
    stats = at.dataframe[1].value
    assert len(stats) == 30 * 9
    expected = head_statistics(all_patterns(fluffy), causal=fluffy.causal)
    for key, label in STAT_COLUMNS.items():
        np.testing.assert_allclose(stats[label].to_numpy(), expected[key].reshape(-1), atol=1e-5)
    keyed(at, "multiselect", "mech_find_keys").set_value([0]).run()
    assert_clean(at)
    assert at.metric[0].value == percent(max(float(fluffy.pattern(a, b)[3, 0]) for a in range(30) for b in range(9)))


def test_cross_attention_block(smollm) -> None:
    at = open_page("cross_attention")
    assert_clean(at)
    prompt, s_span, t_span = build_prompt(DEFAULT_SOURCE, DEFAULT_TARGET)
    trace = smollm.trace(prompt)
    cross = PromptCross(trace, s_span, t_span)
    layer, head = keyed(at, "selectbox", "mech_cross_head_spread").value
    z = decode(chart(at, "mech_cross_block")["data"][0]["z"])
    np.testing.assert_allclose(z, trace.pattern(layer, head).numpy()[np.ix_(cross.target, cross.source)], atol=1e-6)
    assert at.metric[0].value == f"0 of {len(cross.target) * len(cross.source)}"
    assert "target query" in chart(at, "mech_cross_block")["layout"]["yaxis"]["title"]["text"]
    at.radio(key="mech_cross_order").set_value("share").run()
    best_first = keyed(at, "selectbox", "mech_cross_head_share").options[0]  # "layer x, head y: … to the source, …"
    shares = cross.source_share(np.stack([trace.layer_patterns(i).numpy() for i in range(trace.n_layers)]))
    spreads = cross.spread(np.stack([trace.layer_patterns(i).numpy() for i in range(trace.n_layers)]))
    top = np.unravel_index(int(np.argmax(shares)), shares.shape)
    # Review: "L0H0: share 55.0%, spread 0.06" read as code; the option says it in words.
    assert best_first == f"layer {top[0]}, head {top[1]}: {shares[top]:.1%} to the source, spread {spreads[top]:.2f}"


def test_cross_attention_follows_the_sidebar_head_and_shows_no_developer_note() -> None:
    """Issue 19, defect 7: the sidebar's Layer/Head pick the head drawn; no note meant for developers."""
    at = open_page("cross_attention")
    at.slider(key="layer").set_value(3).run()
    at.slider(key="head").set_value(2).run()
    assert_clean(at)
    assert keyed(at, "selectbox", "mech_cross_head_spread").value == (3, 2)
    assert "Layer 3, head 2" in chart(at, "mech_cross_block")["layout"]["title"]["text"]
    page_text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "later issue" not in page_text and "viz." not in page_text


def test_parameters_gpt3_and_measure() -> None:
    at = open_page("parameters")
    assert_clean(at)
    metrics = {m.label: m for m in at.metric}
    assert metrics["Each matrix, per head"].value == "1,572,864"
    assert metrics["Attention, all layers"].value == "58.0 billion"  # rounded to fit; the exact count in its help
    assert metrics["Attention, all layers"].proto.help == "Exactly 57,982,058,496."
    assert "175,181,291,520" in at.success[0].value
    assert "134,515,008" in list(at.dataframe[1].value["parameters"])  # SmolLM2-135M's exact total
    at.multiselect(key="mech_measure_lengths").set_value([64]).run()
    at.button(key="mech_measure").click().run()
    assert_clean(at)
    timing = at.dataframe[-1].value
    assert list(timing["tokens"]) == [64] and timing["seconds"][0] > 0
    at.button(key="mech_preset_loaded").click().run()
    assert {m.label: m.value for m in at.metric}["Each matrix, per head"] == f"{576 * 64:,}"


def test_empty_text_gives_a_message_on_every_page() -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.text_area(key="text").set_value("").run()
    for page in PAGES:
        at = open_page(page, at)
        assert_clean(at)
        if page in ("inside_head", "embedding_shifts", "head_finder"):
            assert any("empty" in i.value for i in at.info), page


def test_user_text_is_escaped_in_plotly() -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.text_area(key="text").set_value("<b>bold</b> & <br> creature").run()
    at = open_page("inside_head", at)
    assert_clean(at)
    ticks = " ".join(chart(at, "mech_pattern")["layout"]["xaxis"]["ticktext"])
    assert "<b>" not in ticks and "<br>" not in ticks and "&lt;" in ticks and "&amp;" in ticks


def test_head_finder_shows_tokens_literally() -> None:
    """Token text in the captions sits in code spans: Markdown in a typed sentence stays text."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.text_area(key="text").set_value("a **bold** [link](https://example.com) creature").run()
    at = open_page("head_finder", at)
    assert_clean(at)
    caption = next(c.value for c in at.caption if c.value.startswith("of the attention of"))
    assert caption.count("`") >= 4  # the query and at least one key, each in its own code span
    import re

    outside_code = re.sub(r"`[^`]*`", "", caption)
    assert "](" not in outside_code and "**" not in outside_code and "[" not in outside_code


def test_cross_attention_without_the_mask_names_the_block_it_does_not_draw() -> None:
    """Browser review (MiniLM, 1280 px): with no mask the caption sent the reader to "the block above the diagonal",
    but the page draws only the target-queries × source-keys block, where there is no diagonal."""
    at = open_page("cross_attention")
    at.toggle(key="causal").set_value(False).run()
    assert_clean(at)
    captions = " ".join(c.value for c in at.caption)
    assert "uses no mask" in captions and "diagonal" not in captions
    assert "source queries × target keys" in captions and "not drawn here" in captions


def test_inside_head_names_biases_and_heads_as_the_model_has_them() -> None:
    """Review (MiniLM, 1280 px): the Q/K caption ended "… d_head = 32. + b_Q (this model has biases)", the
    Q and K titles said E·W_Q without the bias the page adds, and W_K / W_V were titled "kv head 0" for a
    model whose every head has its own keys and values."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.selectbox(key="model").set_value("minilm-l6").run()
    at = open_page("inside_head", at)
    assert_clean(at)
    captions = " ".join(c.value for c in at.caption)
    assert ". +" not in captions and "b_Q" in captions and "b_K" in captions
    assert "E·W_Q + b_Q" in chart(at, "mech_Q_pre")["layout"]["title"]["text"]
    assert "E·W_K + b_K" in chart(at, "mech_K_pre")["layout"]["title"]["text"]
    for key in ("mech_WK", "mech_WV"):
        title = chart(at, key)["layout"]["title"]["text"]
        assert "kv head" not in title and "(head 0)" in title, title


def test_head_finder_quotes_every_token_alike() -> None:
    """Review: token labels were written with repr, which switches to double quotes for a token holding an
    apostrophe ("48: 't" beside '47: ␣don'): every label now sits in a code span as it reads on the axes."""
    import re

    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.text_area(key="text").set_value("I don't know what you don't").run()
    at = open_page("head_finder", at)
    assert_clean(at)
    caption = next(c.value for c in at.caption if c.value.startswith("of the attention of"))
    spans = re.findall(r"(`+) ?(.*?) ?\1", caption)
    assert len(spans) >= 2
    for _, label in spans:
        assert re.match(r"\d+: \S", label), label  # '7: ␣don' read as "'7: ␣don'" and "\"8: 't\""


def test_head_finder_never_rounds_a_share_to_all_of_it(minilm) -> None:
    """Review (MiniLM): the best head's metric read "100.0%" above a ranking table's 0.9995, and the warning said
    the head "puts 100% of each query's weight" on the previous token, an average of 0.9999 across the text."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.selectbox(key="model").set_value("minilm-l6").run()
    at = open_page("head_finder", at)
    assert_clean(at)
    ranking = next(t for t in at.dataframe if t.key == "mech_find_table").value
    best = float(ranking["weight on keys"].iloc[0])
    assert 0.9995 <= best < 1  # the default text's best MiniLM head (layer 0, head 2): nearly all, not all
    assert at.metric[0].value == percent(best) and at.metric[0].value != "100.0%"
    (warning,) = [w.value for w in at.warning if w.value.startswith("Careful")]
    assert "on average" in warning and "100%" not in warning
