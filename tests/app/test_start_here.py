"""Start here (issue 19, "New for learners"): the app opens on the chapter's walk-through; Back/Next go through
every step on both built-in models, each step draws its live view with the model's numbers, the link's `step=`
restores a step, every registered page is linked from a step or from the guide, and the sidebar's mole examples
open the mole comparison."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app_pages.registry import DEFAULT_PAGE, PAGES, page_named
from tests.app.helpers import APP, chart, decode
from ui.shell import STEP
from viz.views.chapter import ENCODER_DECODER_EXAMPLE, SLUGS, STEPS

TEXT = "a fluffy blue creature roamed the verdant forest"
TIMEOUT = 120

# What each step draws: a chart's key prefix, a table's column, or the token strip.
LIVE_VIEW = {
    "tokens": ("code", None),
    "embeddings": ("plotly_chart", "start_E"),
    "query-key": ("plotly_chart", "start_Q"),
    "dot-products": ("plotly_chart", "start_scores"),
    "softmax": ("dataframe", "weight"),
    "pattern": ("plotly_chart", "start_pattern"),
    "masking": ("plotly_chart", "start_masking"),
    "values": ("plotly_chart", "start_delta"),
    "heads": ("plotly_chart", "start_heads"),
    "layers": ("plotly_chart", "start_overview"),
    "moles": ("plotly_chart", "start_moles"),
    "context": ("plotly_chart", "start_context"),
    "parameters": ("dataframe", "all layers"),
    "cross-attention": ("plotly_chart", "start_cross"),
}


def open_app(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"text": TEXT, **params})
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def header(at: AppTest) -> str:
    return at.header[0].value


def has_live_view(at: AppTest, slug: str) -> bool:
    kind, mark = LIVE_VIEW[slug]
    if kind == "code":
        return bool(at.code)
    if kind == "dataframe":
        return any(mark in df.value.columns for df in at.dataframe)
    return any(mark in str(e.proto.id) for e in at.get("plotly_chart"))


def linked_pages(at: AppTest) -> set[str]:
    """Registry names of the pages linked (a link holds the page's URL path, which is its registry name; the
    default page's is empty)."""
    return {link.proto.page or DEFAULT_PAGE for link in at.get("page_link")}


def test_the_app_opens_on_start_here() -> None:
    at = open_app()
    assert_clean(at)
    assert at.title[0].value == "Start here"
    assert header(at) == "1 · Tokens"
    assert "␣ver │ d │ ant" in at.code[0].value  # the sidebar's text, as SmolLM2 split it
    assert at.query_params["page"] == "start"


@pytest.mark.parametrize("model", ["smollm2-135m", "minilm-l6"])
def test_next_and_back_walk_every_step(model: str) -> None:
    at = open_app(model=model)
    assert_clean(at)
    assert at.button(key="start_back_bottom").disabled
    for i, step in enumerate(STEPS):
        assert header(at) == f"{i + 1} · {step.title}", (model, step.slug)
        assert has_live_view(at, step.slug), (model, step.slug)
        assert at.session_state[STEP] == step.slug
        if i + 1 < len(STEPS):
            at.button(key="start_next_bottom").click().run()
            assert_clean(at)
            assert at.query_params["step"] == STEPS[i + 1].slug
    assert at.button(key="start_next_bottom").disabled
    at.button(key="start_back_bottom").click().run()
    assert_clean(at)
    assert header(at) == f"{len(STEPS) - 1} · {STEPS[-2].title}"


def test_step_views_show_the_models_numbers(smollm) -> None:
    expected = smollm.trace(TEXT)
    at = open_app(step="pattern", layer="3", head="2")
    assert_clean(at)
    z = decode(chart(at, "start_pattern")["data"][0]["z"])
    np.testing.assert_allclose(z, expected.pattern(3, 2).numpy(), atol=1e-6)
    at = open_app(step="softmax", layer="3", head="2")
    table = at.dataframe[0].value
    creature = 3  # the default query: "creature", asking about "fluffy" and "blue"
    np.testing.assert_allclose(table["weight"].to_numpy(), expected.pattern(3, 2).numpy()[creature], atol=1e-6)
    assert table["score the softmax sees"].iloc[-1] == -np.inf  # a later key, masked


def test_the_values_step_adds_one_tokens_delta_up_from_the_engines_numbers(smollm) -> None:
    expected = smollm.trace(TEXT)
    at = open_app(step="values", layer="3", head="2")
    assert_clean(at)
    figure = chart(at, "start_delta_sum")
    z = decode(figure["data"][0]["z"])
    creature = 3  # the default query sees "a", "fluffy", "blue" and itself: four rows and their sum
    delta = expected.head_out(3, 2).numpy()[creature]  # this head's A·V·W_O at the query, from the engine
    assert z.shape == (5, delta.shape[0])
    np.testing.assert_allclose(z[-1], delta, atol=1e-5)
    np.testing.assert_allclose(z[:-1].sum(axis=0), z[-1], atol=1e-5)
    weights = expected.pattern(3, 2).numpy()[creature]
    ticks = figure["layout"]["yaxis"]["ticktext"]
    assert ticks[1].startswith(f"{weights[1]:.3f} × v(1: ") and ticks[-1].startswith("= Δe of 3: ")
    assert "Masked sources" in " ".join(c.value for c in at.caption)


def test_minilm_says_what_masking_and_cross_attention_are_for_it() -> None:
    at = open_app(model="minilm-l6", step="masking")
    assert_clean(at)
    text = " ".join(m.value for m in at.markdown)
    assert "**encoder**" in text and "trained **without** a mask" in text
    at = open_app(model="minilm-l6", step="cross-attention")
    text = " ".join(m.value for m in at.markdown)
    assert "has no cross-attention" in text and ENCODER_DECODER_EXAMPLE in text


@pytest.mark.parametrize(("raw", "slug"), [("softmax", "softmax"), ("5", "softmax"), ("14", "cross-attention")])
def test_the_step_in_the_link_is_restored(raw: str, slug: str) -> None:
    at = open_app(step=raw)
    assert_clean(at)
    assert header(at) == f"{SLUGS.index(slug) + 1} · {STEPS[SLUGS.index(slug)].title}"
    assert at.query_params["step"] == slug


@pytest.mark.parametrize("raw", ["99", "0", "<b>x</b>", "dot products"])
def test_a_bad_step_falls_back_to_the_first_with_a_notice(raw: str) -> None:
    at = open_app(step=raw)
    assert_clean(at)
    assert header(at) == "1 · Tokens"
    assert any("is not a step of *Start here*" in w.value for w in at.warning)


def test_every_registered_page_is_linked_from_a_step_or_the_guide() -> None:
    at = open_app()
    linked: set[str] = set()
    for i, step in enumerate(STEPS):
        assert set(step.deeper) <= linked_pages(at), step.slug
        linked |= linked_pages(at)
        if i + 1 < len(STEPS):
            at.button(key="start_next_bottom").click().run()
    at.switch_page(page_named("guide").path).run()
    assert_clean(at)
    linked |= linked_pages(at)
    missing = [p.name for p in PAGES if p.name not in linked]
    assert not missing, f"pages no step and not the guide links to: {missing}"


def test_the_step_survives_a_visit_to_a_deeper_page() -> None:
    at = open_app(step="masking")
    at.switch_page(page_named("masking").path).run()
    assert "step" not in at.query_params  # only the Start here page carries it
    at.switch_page(page_named("start").path).run()
    assert_clean(at)
    assert header(at) == "7 · Masking" and at.query_params["step"] == "masking"


@pytest.mark.parametrize("button", ["example_1", "example_2", "example_3"])
def test_a_mole_example_opens_the_mole_comparison(button: str) -> None:
    at = open_app(page="patterns")
    at.button(key=button).click().run()
    assert_clean(at)
    assert at.title[0].value == "Embedding shifts"
    assert at.text_area(key="text").value == at.button(key=button).label  # the sentence itself is traced
    assert at.text_input(key="mech_word").value == "mole"
    assert at.text_area(key="mech_sentences").value.splitlines() == [
        "American shrew mole",
        "one mole of carbon dioxide",
        "take a biopsy of the mole",
    ]
    assert any("each line there is one pair of sentences" in i.value for i in at.info)  # how to read it
    assert chart(at, "mech_mole_cos")["data"], "the comparison was not drawn"
    assert at.query_params["page"] == "embedding_shifts"


def test_the_fluffy_example_only_sets_the_text() -> None:
    at = open_app(page="patterns", text="the cat sat")
    at.button(key="example_0").click().run()
    assert_clean(at)
    assert at.title[0].value == "Attention patterns" and at.text_area(key="text").value == TEXT


def test_the_prompt_cross_block_says_what_share_of_each_row_it_holds(smollm) -> None:
    """A decoder's French-query × English-key block is part of each query's row: the caption's range is the real
    range of the block's row sums, not the 1 a learner was just told every row sums to."""
    from viz.views.cross import DEFAULT_SOURCE, DEFAULT_TARGET, PromptCross, build_prompt

    at = open_app(step="cross-attention", layer="3", head="1")
    assert not at.exception
    said = next(c.value for c in at.caption if "These rows hold" in c.value)
    prompt, source_span, target_span = build_prompt(DEFAULT_SOURCE, DEFAULT_TARGET)
    shares = PromptCross(smollm.trace(prompt), source_span, target_span).block(3, 1).pattern.sum(axis=1)
    assert f"{shares.min():.0%}–{shares.max():.0%}" in said and shares.max() < 0.999


def test_the_cross_blocks_tokens_keep_their_positions_in_the_prompt(smollm) -> None:
    """Step 14 numbered the block's queries and keys from 0 ("0: ␣Le") where the Cross-attention page, on the same
    prompt, says "12: ␣Le": both now label each token with its position in the prompt."""
    from viz.views.cross import DEFAULT_SOURCE, DEFAULT_TARGET, PromptCross, build_prompt

    at = open_app(step="cross-attention", layer="3", head="1")
    prompt, source_span, target_span = build_prompt(DEFAULT_SOURCE, DEFAULT_TARGET)
    cross = PromptCross(smollm.trace(prompt), source_span, target_span)
    fig = chart(at, "start_cross")
    first_query, first_key = fig["layout"]["yaxis"]["ticktext"][0], fig["layout"]["xaxis"]["ticktext"][0]
    assert first_query.startswith(f"{cross.target[0]}: ") and first_key.startswith(f"{cross.source[0]}: ")
    assert cross.target[0] > 0 and cross.source[0] > 0


def test_a_text_past_the_token_cap_says_its_own_length_the_cap_and_the_steps_sample() -> None:
    """A 300-token text under a 260-token cap: the first step said the model cut it into the steps' sample
    ("128 tokens") and the banner called the cap's 260 the text's length. Each count is now named for what it is."""
    text = " ".join(["word"] * 300)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"text": text})
    at.run()
    at.number_input(key="max_tokens").set_value(260).run()
    assert_clean(at)
    ctx = at.session_state["ctx"]
    n_text, n_kept = ctx.trace.n_input_tokens, ctx.trace.n_tokens
    assert n_text > n_kept == 260
    banner = " ".join(i.value for i in at.info)
    assert f"Your text has {n_text} tokens" in banner and f"keeps its first {n_kept}" in banner
    prose = " ".join(m.value for m in at.markdown)
    assert f"into **{n_text} tokens**" in prose and "the steps below use its first 128" in prose
    at.session_state["start_step"] = "context"
    at.run()
    prose = " ".join(m.value for m in at.markdown)
    assert f"Your {n_kept} tokens give {n_kept}²" in prose, prose  # the pass's count, not the steps' sample


@pytest.mark.parametrize(("model", "said"), [("minilm-l6", "before and after it"), ("smollm2-135m", "before it")])
def test_the_prompt_cross_caption_says_which_french_tokens_each_query_sees(model: str, said: str) -> None:
    """MiniLM reads in both directions, but the caption said the rest of a French query's weight went to "the French
    tokens before the query": it also goes to the French tokens after it."""
    at = open_app(model=model, step="cross-attention")
    assert_clean(at)
    caption = next(c.value for c in at.caption if "These rows hold" in c.value)
    assert f"the other French tokens {said})" in caption, caption


@pytest.mark.parametrize(("model", "said"), [("minilm-l6", "differs from"), ("smollm2-135m", "are the same as")])
def test_a_long_texts_notice_says_whether_the_steps_weights_are_the_full_texts(model: str, said: str) -> None:
    """The steps run the model again on a long text's first 128 tokens. Under a causal mask those rows are the full
    pass's; MiniLM reads both ways, so each of its weights there differs from the full text's, and the notice said
    only that the steps "use its first 128"."""
    at = open_app(model=model, text=" ".join(["word"] * 300))
    assert_clean(at)
    banner = " ".join(i.value for i in at.info)
    assert "these steps ran the model on its first 128 tokens alone" in banner, banner
    assert said in banner, banner


@pytest.mark.parametrize("step", ["tokens", "pattern", "masking", "moles"])
def test_a_mask_the_model_was_not_trained_with_is_said_once_on_every_step(step: str) -> None:
    """SmolLM2 with its mask switched off: only the masking step warned, while the page says every number below is
    the model's own; the other steps showed the untrained pass's numbers without a word."""
    at = open_app(step=step, mask="off")
    assert not at.exception, [e.value for e in at.exception]
    warned = [w.value for w in at.warning if "was trained with it" in w.value]
    assert len(warned) == 1, [w.value for w in at.warning]


def test_the_mole_comparison_does_not_offer_switching_a_causal_models_mask_off() -> None:
    """A causal model with its mask off is a pass it never saw in training, not a bidirectional model."""
    at = open_app(page="patterns")
    at.button(key="example_1").click().run()
    assert_clean(at)
    said = " ".join(i.value for i in at.info if "reads left to right" in i.value)
    assert "A bidirectional model (MiniLM) can use it." in said, said


def test_the_query_key_step_says_which_heads_share_the_keys_it_draws() -> None:
    """Under grouped-query attention heads 0, 1 and 2 of SmolLM2 draw the same K: step 3 did not say so."""
    at = open_app(step="query-key", head="1")
    assert_clean(at)
    said = " ".join(c.value for c in at.caption)
    assert "query heads 0, 1 and 2 share this K" in said, said


@pytest.mark.parametrize(("model", "masked"), [("smollm2-135m", True), ("minilm-l6", False)])
def test_the_dot_products_step_mentions_masked_cells_only_where_there_are_some(model: str, masked: bool) -> None:
    """MiniLM has no mask and its scores no grey cell, but step 4 said "Grey cells marked −∞ are masked (next
    steps)"; where there are some, the note names the step that explains them (masking is step 7, not the next)."""
    at = open_app(model=model, step="dot-products")
    assert_clean(at)
    said = " ".join(c.value for c in at.caption)
    assert ("Grey cells marked −∞ are masked (see the Masking step)." in said) == masked, said
    assert "next steps" not in said


@pytest.mark.parametrize("page", ["start", "masking"])
def test_the_three_masking_panels_say_to_scroll_sideways_on_a_narrow_screen(page: str) -> None:
    """Below 1200 px the panels keep their width and scroll (app.py), and at 1024 or 390 px the difference panel and
    both colour bars were off-screen with nothing saying so. Both pages say it (app.py shows it there only)."""
    at = open_app(page=page, step="masking")
    assert_clean(at)
    assert any("scroll the chart sideways" in c.value for c in at.caption), [c.value for c in at.caption]


def test_a_one_token_text_reads_in_the_singular_and_has_nothing_to_mask() -> None:
    """A one-word text: "(1 sources)", "to within 0", and a masking step that did not say there is nothing to mask."""
    at = open_app(text="Hello", step="values")
    assert_clean(at)
    title = chart(at, "start_delta_sum")["layout"]["title"]["text"]
    assert "(1 source)" in title, title
    said = " ".join(c.value for c in at.caption)
    assert "to within 0" not in said and "equals row 0 of the Δe above" in said, said
    at = open_app(text="Hello", step="masking")
    assert any("nothing to mask" in c.value for c in at.caption), [c.value for c in at.caption]


def test_minilms_softmax_step_shows_the_scores_once_and_says_none_is_masked(minilm) -> None:
    """Review: without a mask "scaled score" and "score the softmax sees" were the same numbers side by side."""
    at = open_app(model="minilm-l6", step="softmax")
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table.columns) == ["key token", "scaled score", "weight"]
    assert len(table) == minilm.trace(TEXT).n_tokens
    assert "no key is masked" in " ".join(c.value for c in at.caption)


def test_the_softmax_steps_query_goes_deeper_with_the_reader() -> None:
    """Step 5 looks at "creature"; its Go deeper link opened Inside one head on the last query instead."""
    from tests.app.helpers import keyed

    at = open_app(step="softmax")
    links = [e.proto for e in at.main.get("page_link") if e.proto.page == "inside_head"]
    assert links and all("query=3" in link.query_string.split("&") for link in links), links  # a copied link too
    at.switch_page(page_named("inside_head").path).run()
    assert_clean(at)
    assert keyed(at, "selectbox", "mech_cell_query").value == 3  # 3: ␣creature, the step's default query


def selected_line(at: AppTest) -> str:
    lines = [m.value for m in (*at.markdown, *at.caption) if "is selected" in m.value]
    assert len(lines) == 1, lines
    return lines[0]


def test_many_layers_says_which_head_is_selected_and_follows_the_sidebar() -> None:
    """A browser review: step 10 drew every head and said 'click one to select it', but never which head was
    selected, so a learner could not tell which head the *Go deeper* pages would open on. Numbered as the sidebar's
    sliders and every other page (0-based), and the same head the overview frames."""
    at = open_app(step="layers", layer="3", head="5")
    assert_clean(at)
    assert "Layer 3, head 5 is selected" in selected_line(at)
    assert "click a thumbnail" in selected_line(at).lower()
    n_heads = len(chart(at, "start_overview")["layout"]["yaxis"]["tickvals"])
    assert chart(at, "start_overview")["data"][-1]["selectedpoints"] == [3 * n_heads + 5]
    at.slider(key="layer").set_value(7)
    at.slider(key="head").set_value(2).run()
    assert_clean(at)
    assert "Layer 7, head 2 is selected" in selected_line(at)
    assert chart(at, "start_overview")["data"][-1]["selectedpoints"] == [7 * n_heads + 2]
