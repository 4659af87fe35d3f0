"""AppTest: the Logit lens and Generate pages (issue 16) draw the model's real numbers, and say when a model
has no lens or cannot generate."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, chart, decode, keyed

TIMEOUT = 240
DEFAULT_TEXT = "a fluffy blue creature roamed the verdant forest"


def open_page(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"page": page, **params})
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_logit_lens_grid_is_the_models_lens_and_the_position_track(smollm):
    at = open_page("logit_lens")
    assert_clean(at)
    assert at.title[0].value.startswith("Logit lens")
    trace = smollm.trace(DEFAULT_TEXT)
    top = trace.lens_top(5)
    z = decode(chart(at, "lens_grid")["data"][0]["z"])
    np.testing.assert_allclose(z, top.probs[:, :, 0].numpy(), atol=1e-5)  # the real top-1 probabilities
    # The settling sentence, from the model's own top-1 ids: on the default sentence the lens first shows the
    # final "," after block 13 and keeps it from block 24 on (README; bench/lens.py --finding prints the same).
    top1 = top.ids[:, -1, 0].tolist()
    first_shown, final = top1.index(top1[-1]), top1[-1]
    settled = next(i for i in range(len(top1)) if all(t == final for t in top1[i:]))
    said = next(c.value for c in at.caption if "final answer" in c.value)
    assert f"first shows it after block {first_shown} (of 0–29) and keeps it from block {settled} on" in said
    track = chart(at, "lens_track")
    first = decode(track["data"][0]["y"])
    probs, _ = trace.lens_ranks(-1, [int(top.ids[-1, -1, 0])])
    np.testing.assert_allclose(first, probs[:, 0].numpy(), atol=1e-5)
    keyed(at, "selectbox", "lens_position").set_value(2).run()
    assert_clean(at)
    assert "position 2" in chart(at, "lens_track")["layout"]["title"]["text"]
    assert [b.label for b in at.get("download_button")] == ["Grid as CSV (each block's top 5 at each position)"]


def test_a_long_texts_lens_is_a_window_of_the_shells_own_trace(smollm):
    """A long text gets a window of LENS_WINDOW positions of the shell's trace (not a second, shorter trace),
    ending at the last token; moving the window shows those positions' real lens (issue 19, defect 3)."""
    text = " ".join(["the cat sat on the mat because it was tired and the dog barked at the moon."] * 5)
    at = open_page("logit_lens", text=text)
    assert_clean(at)
    trace = smollm.trace(text)
    n, window = trace.n_tokens, 64
    assert n > window
    z = decode(chart(at, "lens_grid")["data"][0]["z"])
    np.testing.assert_allclose(z, trace.lens_top(5, n - window, n).probs[:, :, 0].numpy(), atol=1e-5)
    x = chart(at, "lens_grid")["data"][0]["x"]
    assert list(decode(x) if isinstance(x, dict) else x) == list(range(n - window, n))  # the text's positions
    at.slider(key=f"lens_first_{n}").set_value(10).run()
    assert_clean(at)
    z = decode(chart(at, "lens_grid")["data"][0]["z"])
    np.testing.assert_allclose(z, trace.lens_top(5, 10, 10 + window).probs[:, :, 0].numpy(), atol=1e-5)
    assert "position 73" in chart(at, "lens_track")["layout"]["title"]["text"]  # the window's last, by default


def test_generate_page_shows_the_greedy_continuation_and_a_clicked_step(smollm):
    at = open_page("generate", layer="0", head="0")
    assert_clean(at)
    gen = smollm.generate(DEFAULT_TEXT, 30, top_k=10)  # the page shows 10 candidates
    assert at.code[-1].value.rstrip() == gen.text.rstrip()  # st.code drops a trailing newline
    assert any(c.value.startswith(f"{len(gen.new_token_ids)} new tokens, greedy") for c in at.caption)
    cand = chart(at, "gen_candidates")
    np.testing.assert_allclose(decode(cand["data"][0]["x"]), gen.top_probs[0].numpy(), atol=1e-6)
    at.pills(key="gen_step").set_value(3).run()  # click the 4th generated token
    assert_clean(at)
    cand = chart(at, "gen_candidates")
    np.testing.assert_allclose(decode(cand["data"][0]["x"]), gen.top_probs[3].numpy(), atol=1e-6)
    assert "wrote" in chart(at, "gen_heads")["layout"]["title"]["text"]
    assert [b.label for b in at.get("download_button")] == ["Every step's top 10 as CSV"]
    heads = decode(chart(at, "gen_heads")["data"][0]["z"])
    n = gen.n_prompt + 3  # the step that wrote token 4 is the query at position n_prompt + 2
    np.testing.assert_allclose(heads, gen.trace.layer_patterns(0)[:, n - 1, :n].numpy(), atol=1e-6)
    at.button(key="gen_use").click().run()
    assert_clean(at)
    assert at.session_state.text == gen.text  # the generated text is now every page's text


def test_encoders_get_a_message_on_both_pages():
    for page in ("logit_lens", "generate"):
        at = open_page(page, model="minilm-l6")
        assert_clean(at)
        assert any("encoder" in i.value for i in at.info), page
        assert not at.get("plotly_chart")
        # Review: the subtitle offered "layer 0, head 0 (change them in the sidebar)" above a page with no head.
        assert not [c.value for c in at.caption if "change them in the sidebar" in c.value], page


def test_patterns_page_value_weighted_switch(smollm):
    at = open_page("patterns", layer="3", head="1")
    assert_clean(at)
    at.toggle(key="value_weighted").set_value(True).run()
    assert_clean(at)
    z = decode(chart(at, "value_weighted_heatmap")["data"][0]["z"])
    expected = smollm.trace(DEFAULT_TEXT).value_weighted(3, 1).numpy()
    np.testing.assert_allclose(z, expected, atol=1e-5)  # the real norms, queries as rows
    assert any("attention sink" in c.value for c in at.caption)


def test_contribution_graph_draws_the_engines_edges(smollm, minilm):
    """The page draws every edge of the engine's graph for the last token (one hover dot per edge) and lists the
    strongest moves between tokens with their real importances; a higher threshold keeps fewer edges; an encoder
    gets a graph too (its tokens read both ways)."""
    at = open_page("contributions")
    assert_clean(at)
    trace = smollm.trace(DEFAULT_TEXT)
    graph = trace.contribution_graph(trace.n_tokens - 1, 0.04)
    dots = [t for t in chart(at, "flow_graph")["data"] if t.get("mode") == "markers" and "legendgroup" in t]
    assert sum(len(t["hovertext"]) for t in dots) == len(graph.edges)
    table = at.dataframe[0].value
    moves = [e for e in graph.edges if e.kind == "attention" and e.source != e.target]
    assert abs(table["importance"].iloc[0] - max(e.importance for e in moves)) < 1e-9
    assert any(f"{len(graph.edges)} edges" in c.value for c in at.caption)
    assert [b.label for b in at.get("download_button")] == ["Edges as CSV"]
    at.slider(key="flow_threshold_0.01").set_value(0.2).run()
    assert_clean(at)
    fewer = trace.contribution_graph(trace.n_tokens - 1, 0.2)
    assert any(f"{len(fewer.edges)} edges" in c.value for c in at.caption) and len(fewer.edges) < len(graph.edges)
    at = open_page("contributions", model="minilm-l6")
    assert_clean(at)
    # The last word, not the closing [SEP] (browser review: a learner's first graph explained a special token).
    words = minilm.trace(DEFAULT_TEXT)
    last_word = words.tokens.index("forest")
    assert keyed(at, "selectbox", "flow_token").value == last_word == 11
    encoded = words.contribution_graph(last_word, 0.04)
    assert any(f"{len(encoded.edges)} edges" in c.value for c in at.caption)
    assert any(e.source > 0 and e.kind == "attention" for e in encoded.edges)


def test_a_long_prompts_step_charts_show_a_window_of_keys(smollm):
    """Past KEY_WINDOW keys the step charts show a window (the last keys by default, a slider to move it) whose
    columns are the text's positions and whose weights are the generation's own (issue 19, defect 3)."""
    text = " ".join(["the cat sat on the mat because it was tired and the dog barked at the moon."] * 9)
    at = open_page("generate", text=text, layer="2", head="1")
    at.number_input(key="gen_n").set_value(4).run()
    assert_clean(at)
    gen = smollm.generate(text, 4, top_k=10)
    n_keys = gen.trace.n_tokens - 1
    assert n_keys > 128
    at.slider(key=f"gen_first_{n_keys}").set_value(10).run()
    assert_clean(at)
    fig = chart(at, "gen_attention")["data"][0]
    x = decode(fig["x"]) if isinstance(fig["x"], dict) else fig["x"]
    assert list(x) == list(range(10, 10 + 128))  # the window's text positions
    rows = gen.trace.pattern(2, 1).numpy()[gen.n_prompt - 1 : gen.trace.n_tokens - 1, 10 : 10 + 128]
    z = decode(fig["z"])
    assert z.shape == (4, 128) and not np.isnan(z).any()  # every key of this window precedes every step
    np.testing.assert_allclose(z, rows, atol=1e-6)


def test_contribution_graph_says_when_no_other_token_can_reach_the_chosen_one(smollm, minilm):
    """With one token (or the first token under the causal mask) no other token can send anything, at any
    threshold: the page says so instead of suggesting a lower threshold (which would change nothing)."""
    at = open_page("contributions", text="hello")
    assert_clean(at)
    assert smollm.trace("hello").n_tokens == 1
    said = " ".join(i.value for i in at.info)
    assert "no other token" in said.lower() and "Lower the threshold" not in said
    at = open_page("contributions", text=DEFAULT_TEXT)
    keyed(at, "selectbox", "flow_token").set_value(0).run()
    assert_clean(at)
    said = " ".join(i.value for i in at.info)
    assert "causal mask" in said and "Lower the threshold" not in said
    at = open_page("contributions", text=DEFAULT_TEXT, model="minilm-l6")  # an encoder's first token is reached
    keyed(at, "selectbox", "flow_token").set_value(0).run()
    assert_clean(at)
    assert "causal mask" not in " ".join(i.value for i in at.info)
    said = " ".join(m.value for m in at.markdown)  # and its intro does not say only earlier tokens send
    assert "every token, before or after it, sends" in said and "earlier token" not in said


def test_the_logit_lens_warns_when_the_mask_is_off_as_the_other_pages_do() -> None:
    """With the causal mask off every position reads the token it is to predict: the lens's predictions are a
    pass SmolLM2 never saw in training, and the page said nothing."""
    at = open_page("logit_lens", text="a fluffy blue creature roamed the verdant forest", mask="off")
    assert_clean(at)
    assert any("causal mask is off" in w.value for w in at.warning)


def test_the_generate_page_reads_the_token_cap_and_says_where_it_cut(smollm):
    # The prompt is the text up to the sidebar's token cap, as on every page; the continuation follows the tokens
    # read, and the page says the rest of the text was left out (it used to continue from the text's real end).
    text = " ".join(f"word{i}" for i in range(40))
    at = open_page("generate", text=text, layer="0", head="0")
    at.number_input(key="gen_n").set_value(3).run()
    at.number_input(key="max_tokens").set_value(12).run()
    assert_clean(at)
    gen = smollm.generate(text, 3, top_k=10, max_tokens=12)
    assert gen.n_prompt == 12 and not gen.text.startswith(text)
    assert at.code[-1].value.rstrip() == gen.text.rstrip()
    assert any("the model read its first 12" in w.value for w in at.warning), [w.value for w in at.warning]


def test_the_logit_lens_says_where_the_token_cap_cut_the_text():
    text = "the cat sat on the mat and then it slept for a long time FINALMARKER zebra."
    at = open_page("logit_lens", text=text)
    at.number_input(key="max_tokens").set_value(6).run()
    assert_clean(at)
    warnings = [w.value for w in at.warning]
    assert any("the token cap (sidebar) keeps the first 6" in w for w in warnings), warnings


def test_a_line_break_in_the_tokens_is_explained_where_tokens_are_drawn(smollm):
    text = "Roses are red,\nviolets are blue"
    for page in ("patterns", "generate", "logit_lens"):  # the lens: SmolLM2 predicts "\n" on this text
        at = open_page(page, text=text)
        assert_clean(at)
        assert any("\\n is a line break" in c.value for c in at.caption), (page, [c.value for c in at.caption])
