"""Text pairs in the app: for an encoder whose tokenizer has a pair template (MiniLM) the sidebar has a second text
box; the shell's trace reads both texts, the URL carries the second (`second=`), the sidebar says where it starts,
and Experiments' reruns keep the pair. A decoder (SmolLM2) has no such box, and a link's second text is not used."""

from __future__ import annotations

import torch
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, chart

FIRST = "How many people live in Berlin?"
SECOND = "Berlin has a population of 3.5 million."


def _opened(page: str, model: str, second: str | None = SECOND) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"model": model, "text": FIRST, **({"second": second} if second is not None else {})})
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _second_box(at: AppTest):
    return [t for t in at.sidebar.text_area if t.key == "second_text"]


def _split_lines(at: AppTest) -> list[tuple[str, float]]:
    """The main heatmap's lines between a pair's texts: (axis, position)."""
    shapes = chart(at, "head_heatmap")["layout"].get("shapes", [])
    dashed = [s for s in shapes if s.get("type") == "line" and s.get("line", {}).get("dash") == "dash"]
    return sorted(("x", s["x0"]) if s["xref"] == "x" else ("y", s["y0"]) for s in dashed)


def test_an_encoders_second_text_is_read_as_a_pair_and_shared() -> None:
    at = _opened("app_pages/patterns.py", "minilm-l6")
    ctx = at.session_state["ctx"]
    assert ctx.second_text == SECOND
    trace = ctx.trace
    assert trace.tokens[:9] == ["[CLS]", "how", "many", "people", "live", "in", "berlin", "?", "[SEP]"]
    assert trace.tokens[9:11] == ["berlin", "has"] and trace.tokens[-1] == "[SEP]"
    assert set(trace.segments.ids[9:]) == {1} and set(trace.segments.ids[:9]) == {0}
    [box] = _second_box(at)
    assert box.value == SECOND
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "Read as a pair: the first text is at positions 0–8" in captions
    assert "the second from position 9 on (a dashed orange line on the query × key matrices)." in captions
    assert at.query_params["second"] == SECOND
    assert _split_lines(at) == [("x", 8.5), ("y", 8.5)]  # between "[SEP]" (8) and the second text's "berlin" (9)
    # Emptied: one text again, and the link no longer carries a second text.
    box.set_value("").run()
    assert at.session_state["ctx"].trace.segments is None and "second" not in at.query_params
    assert _split_lines(at) == []
    assert at.session_state["ctx"].trace.tokens[-1] == "[SEP]" and "berlin" in at.session_state["ctx"].trace.tokens


def test_a_decoder_has_no_second_text_and_a_links_is_not_used() -> None:
    at = _opened("app_pages/patterns.py", "smollm2-135m")
    assert not _second_box(at)
    ctx = at.session_state["ctx"]
    assert ctx.second_text is None and ctx.trace.segments is None and ctx.message is None
    assert "second" not in at.query_params


def test_the_second_text_waits_while_a_decoder_is_shown() -> None:
    at = _opened("app_pages/patterns.py", "minilm-l6")
    at.selectbox(key="model").set_value("smollm2-135m").run()
    assert not _second_box(at) and at.session_state["ctx"].trace.segments is None
    assert "second" not in at.query_params
    at.selectbox(key="model").set_value("minilm-l6").run()
    [box] = _second_box(at)
    assert box.value == SECOND and at.session_state["ctx"].second_text == SECOND
    assert at.session_state["ctx"].trace.segments is not None and at.query_params["second"] == SECOND


def test_the_head_finder_ranks_heads_by_their_weight_on_the_other_text() -> None:
    at = _opened("app_pages/head_finder.py", "minilm-l6")
    [table] = [df.value for df in at.dataframe if "other-text share" in df.value.columns]
    trace = at.session_state["ctx"].trace
    second = torch.arange(trace.n_tokens) >= trace.segments.second_token
    other = second[:, None] != second[None, :]  # every query of MiniLM (bidirectional) sees the other text
    row = table.iloc[5]
    assert (int(row["layer"]), int(row["head"])) == (0, 5)
    expected = float((trace.layer_patterns(0)[5].double() * other).sum(-1).mean())
    assert abs(float(row["other-text share"]) - expected) <= 1e-6  # float64 sums of the same float32 weights
    assert "for the text pair, each query's weight on the other text" in " ".join(c.value for c in at.caption)
    one = _opened("app_pages/head_finder.py", "minilm-l6", second=None)
    assert not [df for df in one.dataframe if "other-text share" in df.value.columns]


def test_experiments_rerun_the_pair(monkeypatch) -> None:
    from services import traces

    at = _opened("app_pages/experiments.py", "minilm-l6")
    assert traces.input_texts(at.session_state["ctx"].trace) == (FIRST, SECOND)
    runs: list[tuple] = []
    real = traces._run
    monkeypatch.setattr(traces, "_run", lambda *a, **k: runs.append((a[1], a[4], a[6:])) or real(*a, **k))
    at.button(key="exp_add").click().run()  # the default change, on the selected head
    assert not at.exception, [e.value for e in at.exception]
    [(text, interventions, rest)] = [run for run in runs if run[1]]
    assert (text, rest) == (FIRST, (SECOND,)), "the rerun with the change must read the same pair"


def test_a_pair_cut_by_the_token_cap_says_how_much_of_each_text_was_read() -> None:
    at = _opened("app_pages/patterns.py", "minilm-l6")
    at.number_input(key="max_tokens").set_value(12).run()  # the pair has 20 tokens: 7 + 10 of text, 3 added
    assert not at.exception, [e.value for e in at.exception]
    trace = at.session_state["ctx"].trace
    # Longest first: the second text (10 tokens) gives up 5, the first (7) 3, leaving 4 + 5 (transformers' rule).
    assert trace.tokens == ["[CLS]", "how", "many", "people", "live", "[SEP]", "berlin", "has", "a", "population",
                            "of", "[SEP]"]  # fmt: skip
    said = " ".join(w.value for w in at.warning)
    assert "The two texts have 20 tokens together; the token cap (sidebar) keeps 12, cut from the end of the longer" \
        in said, said  # fmt: skip
    assert f"The trace reads 20 of the first text's {len(FIRST)} characters and 26 of the second's {len(SECOND)}." \
        in said, said  # fmt: skip
    assert "It was cut at character" not in said  # the one-text notice, which marks one place


def test_start_here_walks_through_a_long_pair_as_a_pair(monkeypatch) -> None:
    from services import traces

    runs: list[tuple] = []
    real = traces._run
    monkeypatch.setattr(traces, "_run", lambda *a, **k: runs.append((a[1], a[3], a[6:])) or real(*a, **k))
    long_first = " ".join(["the forest was verdant and the creature was blue"] * 30)  # past the full-resolution cap
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"model": "minilm-l6", "text": long_first, "second": SECOND})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    model = at.session_state["ctx"].model
    assert (long_first, traces.short_cap(model), (SECOND,)) in runs, "the walkthrough's short trace must be the pair"


def test_a_second_text_too_long_for_a_link_is_named_on_both_sides() -> None:
    """A pair whose second text is over the link's limit: the sender's sidebar says the *second* text is too long
    and that the link carries neither text (a pair is read as one input), and the recipient is told to paste both."""
    sender = _opened("app_pages/patterns.py", "minilm-l6")
    _second_box(sender)[0].set_value(SECOND * 120).run()  # ~4,900 characters; the first text is short
    sent = dict(sender.query_params)
    assert "text" not in sent and "second" not in sent
    said = " ".join(c.value for c in sender.sidebar.caption)
    assert "The second text is over 4000 characters, too long for the page address" in said, said
    assert "not the texts" in said and "This text is over" not in said, said
    recipient = AppTest.from_file(APP, default_timeout=180)
    recipient.query_params.update(sent)
    recipient.run()
    assert not recipient.exception, [e.value for e in recipient.exception]
    warned = " ".join(w.value for w in recipient.warning)
    assert "This link's second text was too long to share in a URL: paste both texts into the sidebar" in warned


def _orange_lines(figure: dict) -> list[tuple[str, float]]:
    from viz.figures.layout import PAIR_SPLIT_COLOUR

    shapes = figure["layout"].get("shapes", [])
    lines = [s for s in shapes if s.get("line", {}).get("color") == PAIR_SPLIT_COLOUR]
    return sorted(("x", s["x0"]) if s["yref"].endswith("domain") else ("y", s["y0"]) for s in lines)  # up or across


def test_the_masking_and_inside_one_head_matrices_split_the_pair() -> None:
    """The split the attention heatmap draws (between positions 8 and 9) is on the scores, on each of the mask
    comparison's three panels, and on Inside one head's query × key steps (drawn by index: the same place here)."""
    at = _opened("app_pages/masking.py", "minilm-l6")
    assert _orange_lines(chart(at, "scores")) == [("x", 8.5), ("y", 8.5)]
    assert _orange_lines(chart(at, "compare")) == [("x", 8.5)] * 3 + [("y", 8.5)] * 3
    at.switch_page("app_pages/inside_head.py").run()
    assert not at.exception, [e.value for e in at.exception]
    for key in ("mech_dots", "mech_scaled", "mech_masked", "mech_pattern"):
        assert _orange_lines(chart(at, key)) == [("x", 8.5), ("y", 8.5)], key
    _second_box(at)[0].set_value("").run()  # one text again: no line
    assert _orange_lines(chart(at, "mech_pattern")) == []
