"""A hybrid in the app: a tiny LFM2 (tests.tiny_models_hybrid: layers 0 and 2 mix tokens by a short convolution, 1
and 3 attend; and LFM3's, Qwen3.5's and Granite 4's, laid out alike) loaded through *Another model*. Every page and
every Start here step draws; the sidebar offers only the layers with heads, and a link to another layer lands on the
nearest with a notice; the layer × head views leave the other layers blank and clickable nowhere; the head ranking
and the ablation sweep count only real heads; the contribution graph draws the convolution's and the delta rule's
edges and names each level's mixer."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import chart, decode
from tests.app.test_architecture_features import APP, TEXT
from tests.tiny_folders import tiny_folder

pytest.importorskip("transformers")

ATTENTION, CONV = (1, 3), (0, 2)


def opened(private_models, page: str, kind: str = "lfm2", **params: str) -> AppTest:
    folder = tiny_folder(private_models, kind)
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": page, "text": TEXT, **params})
    at.run()
    at.text_input(key="model_request").set_value(str(folder))
    at = at.button(key="model_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def clean(at: AppTest, where: str) -> None:
    assert not at.exception, (where, [e.value for e in at.exception])
    assert not at.error, (where, [e.value for e in at.error])


# LFM3: a windowed layer, a gate per head, sublayer output norms; Qwen3.5: the gated delta rule in layers 0 and 2;
# Granite 4's hybrid: Mamba-2 there, and attention without RoPE; Nemotron-H: six layers, each a Mamba-2 scan, an
# attention or an MLP alone (tests.tiny_models_hybrid.NEMOTRON_H_LAYERS); OLMo Hybrid: the delta rule in pre-norm
# blocks beside OLMo 3's attention blocks, whose norms sit on the sublayers' outputs; Falcon-H1: heads in all three
# layers, a Mamba-2 scan beside them; Jamba: Mamba's selective scan in layers 0, 2 and 3, experts in 1 and 3; Kimi
# Linear: Kimi Delta Attention in 0-2, latent attention in 3; RecurrentGemma: the RG-LRU in 0, 1 and 3, local attention
# in 2
@pytest.mark.parametrize("kind, heads", [("lfm2", ATTENTION), ("lfm3", ATTENTION), ("qwen3_5", ATTENTION),
                                         ("granite_hybrid", ATTENTION), ("nemotron_h", (2, 5)),
                                         ("olmo_hybrid", ATTENTION), ("falcon_h1", (0, 1, 2)),
                                         ("jamba", (1,)), ("kimi_linear", (3,)),
                                         ("recurrent_gemma", (2,))])  # fmt: skip
def test_every_page_and_step_draws_and_the_layer_picker_offers_the_attention_layers(private_models, kind, heads):
    from app_pages.registry import PAGES
    from viz.views.chapter import SLUGS

    at = opened(private_models, "patterns", kind)
    if kind == "falcon_h1":  # every layer has heads: the plain layer slider
        assert (at.sidebar.slider(key="layer").min, at.sidebar.slider(key="layer").max) == (0, 2)
    else:
        picker = at.sidebar.select_slider(key="layer")
        assert list(picker.options) == [str(layer) for layer in heads] and at.session_state["layer"] in heads
    for page in PAGES:
        at = at.switch_page(page.path).run()
        clean(at, page.name)
    at = at.switch_page("app_pages/start_here.py").run()
    for step in SLUGS:
        at.query_params["step"] = step
        at = at.run()
        clean(at, step)


def test_a_link_to_a_convolution_layer_opens_the_nearest_attention_layer_and_says_so(private_models) -> None:
    at = opened(private_models, "patterns", layer="2", head="1")
    assert at.session_state["layer"] in (1, 3) and at.session_state["head"] == 1
    said = " ".join(w.value for w in at.warning)
    assert "Layer 2 of" in said and "has no attention heads" in said and "attention layers are 1, 3" in said


def test_a_model_with_one_attention_layer_says_so_in_the_singular(private_models) -> None:
    """Review of RecurrentGemma's pages (one attention layer in four): "its attention layers are 2" and "its 1
    attention layers of 4" read wrong."""
    at = opened(private_models, "parameters", "recurrent_gemma", layer="0")
    said = " ".join(w.value for w in at.warning) + " ".join(c.value for c in at.caption)
    assert "its attention layer is 2" in said and "its 1 attention layer of 4" in said, said


def test_the_overview_leaves_the_convolution_layers_blank_and_unclickable(private_models) -> None:
    at = opened(private_models, "patterns", layer="3", head="2")
    mosaic = chart(at, "overview")["data"]
    image, targets = mosaic[0], mosaic[1]
    clicks = decode(targets["customdata"]).reshape(-1, 2)
    assert sorted({int(layer) for layer, _ in clicks}) == list(ATTENTION) and len(clicks) == 2 * 4
    z = decode(image["z"])  # (heads × cells, layers × cells): each layer a band of columns
    band = z.shape[1] // 4 + 1  # a thumbnail and its gap
    for layer in range(4):
        column = z[:, layer * band : layer * band + band - 1]
        assert np.isnan(column).all() == (layer in CONV), layer
    caption = " ".join(c.value for c in at.caption)
    assert "Layers 0, 2 run a short convolution instead of attention, without heads" in caption


def test_the_head_finder_and_the_sweep_rank_only_real_heads(private_models) -> None:
    at = opened(private_models, "head_finder", layer="1")
    every_head = next(t.value for t in at.dataframe if "entropy (bits)" in t.value.columns)  # the stats table
    assert sorted(set(every_head["layer"])) == list(ATTENTION) and len(every_head) == 2 * 4
    ranking = next(t.value for t in at.dataframe if "weight on keys" in t.value.columns)
    assert set(ranking["layer"]) <= set(ATTENTION) and not ranking["weight on keys"].isna().any()
    at = at.switch_page("app_pages/experiments.py").run()
    at.button(key="exp_sweep").click().run()
    clean(at, "sweep")
    figure = chart(at, "exp_sweep_map")
    sweep = decode(figure["data"][0]["z"])  # [layers, heads]
    assert np.isnan(sweep[list(CONV)]).all() and not np.isnan(sweep[list(ATTENTION)]).any()
    said = [(a["text"], a["y"]) for a in figure["layout"]["annotations"] if a["text"] == "no heads"]
    assert sorted(y for _, y in said) == list(CONV)  # the blank rows say why
    assert any("Ablate (zero) each of the 8 heads" in c.value for c in at.caption)


def test_the_contribution_graph_draws_the_convolutions_edges(private_models) -> None:
    at = opened(private_models, "contributions")
    clean(at, "contributions")
    figure = chart(at, "flow_graph")["data"]
    names = {d.get("name") for d in figure}
    assert "short convolution (from itself or a few tokens before)" in names
    hovers = " ".join(h for d in figure for h in (d.get("hovertext") or d.get("text") or []) if isinstance(h, str))
    assert "after block 0's short convolution" in hovers and "after block 1's attention" in hovers
    assert any("In 2, a short convolution: the token receives from itself and the 2 tokens before it" in m.value
               for m in at.markdown)  # fmt: skip
    legend = next(c.value for c in at.caption if "orange: the MLP" in c.value)
    assert "green: a short convolution;" in legend and "purple" not in legend  # the kinds this model has


def test_inside_one_head_says_lfm3s_gate_is_one_number_per_head(private_models) -> None:
    at = opened(private_models, "inside_head", "lfm3", layer="3", head="1")
    clean(at, "inside_head")
    said = " ".join(c.value for c in at.caption)
    assert "one number between 0 and 1 for this head" in said and "dimension by dimension" not in said
    gate = decode(chart(at, "mech_gate")["data"][0]["z"])  # [queries, d_head]: one value across each row
    assert np.allclose(gate, gate[:, :1]) and gate.std() > 0


def test_the_contribution_graph_draws_a_delta_rules_edges_from_any_earlier_token(private_models) -> None:
    at = opened(private_models, "contributions", "qwen3_5")
    clean(at, "contributions")
    names = {d.get("name") for d in chart(at, "flow_graph")["data"]}
    assert "gated delta rule (linear attention, from any earlier token)" in names
    assert any("In 2, a gated delta rule (linear attention)" in m.value for m in at.markdown)
    rows = next(t.value for t in at.dataframe if "importance" in t.value.columns)  # moves between tokens
    assert set(rows["block"]) & {0, 2}  # the delta rule's layers move information between tokens too


def test_the_contribution_graph_draws_jambas_scans_and_no_implicit_section(private_models) -> None:
    at = opened(private_models, "contributions", "jamba")
    clean(at, "contributions")
    names = {d.get("name") for d in chart(at, "flow_graph")["data"]}
    assert "Mamba state-space scan (from any earlier token)" in names
    assert any("In 3, Mamba's selective scan" in m.value for m in at.markdown)
    legend = next(c.value for c in at.caption if "orange: the MLP" in c.value)
    assert "brown: a state-space scan;" in legend
    at = at.switch_page("app_pages/patterns.py").run()
    clean(at, "patterns")
    assert not [s for s in at.selectbox if s.key == "implicit_layer"]  # a weight per channel, not per head: none


def test_the_contribution_graph_says_what_nemotron_hs_mlp_only_layers_do(private_models) -> None:
    at = opened(private_models, "contributions", "nemotron_h")
    clean(at, "contributions")
    said = " ".join(m.value for m in at.markdown)
    assert "In 2, nothing mixes tokens: the block is an MLP alone" in said and "4 blocks have no MLP" in said
    rows = next(t.value for t in at.dataframe if "importance" in t.value.columns)  # moves between tokens
    assert not set(rows["block"]) & {1, 3}  # an MLP alone moves nothing between tokens


def test_falcon_h1s_scan_beside_the_heads_is_drawn_and_said_on_each_page(private_models) -> None:
    at = opened(private_models, "contributions", "falcon_h1")
    clean(at, "contributions")
    names = {d.get("name") for d in chart(at, "flow_graph")["data"]}
    assert {"Mamba state-space scan (from any earlier token)", "attention (from another token, or itself)"} <= names
    assert any("runs a Mamba-2 state-space scan beside attention in every block" in m.value for m in at.markdown)
    legend = next(c.value for c in at.caption if "orange: the MLP" in c.value)
    assert "brown: a state-space scan;" in legend
    at = at.switch_page("app_pages/patterns.py").run()
    clean(at, "patterns")
    assert any(s.value == "The scans beside the heads: what they weigh" for s in at.subheader)
    assert [at.selectbox(key="implicit_layer").format_func(i) for i in (0, 1, 2)] == [
        f"{i}: attention and Mamba-2 scan" for i in (0, 1, 2)]
    at = at.switch_page("app_pages/embedding_shifts.py").run()
    clean(at, "shifts")
    assert any("before + Δe + the output of the Mamba-2 scan this model runs beside its heads" in c.value
               for c in at.caption)  # fmt: skip


def test_the_patterns_page_draws_a_delta_rules_weights_and_an_lfm2_has_none_to_draw(private_models) -> None:
    from services.lens import implicit_weights_of

    at = opened(private_models, "patterns", "qwen3_5")
    layer = at.selectbox(key="implicit_layer")
    assert list(layer.options) == ["0: gated delta rule", "2: gated delta rule"]
    at = layer.select(2).run()
    at = at.selectbox(key="implicit_head").select(1).run()
    clean(at, "implicit weights")
    drawn = decode(chart(at, "implicit_heatmap")["data"][0]["z"])  # rows are queries; later sources blank
    from attention_core import load_model  # the weights of a fresh trace of the same text, head 1 of layer 2

    ours = load_model(str(private_models / "models" / "tiny-qwen3_5"), device="cpu").trace(TEXT)
    expected = implicit_weights_of(ours, 2, 0, ours.n_tokens)[1]
    assert np.allclose(np.nan_to_num(drawn), expected, atol=1e-5) and np.isnan(drawn[0, 1])
    said = " ".join(c.value for c in at.caption)
    assert "Layers 0, 2 run a gated delta rule instead of attention" in said and "Row sums run from" in said
    lfm2 = opened(private_models, "patterns")
    assert not [s for s in lfm2.selectbox if s.key == "implicit_layer"]  # a convolution has no weight per head
    nemotron = " ".join(c.value for c in opened(private_models, "patterns", "nemotron_h").caption)
    assert "Layers 0, 4 run a Mamba-2 state-space scan instead of attention. A Mamba-2 head" in nemotron
    assert "Layers 0, 1, 3, 4 run a Mamba-2 state-space scan or an MLP alone (mixing no tokens) instead" in nemotron


def test_a_text_longer_than_the_window_draws_the_window_picked(private_models, monkeypatch) -> None:
    """The window (256 tokens in the app; 8 here, as the tiny model reads at most 128) moves over a longer text."""
    from services.lens import implicit_weights_of
    from ui import implicit_weights as section

    monkeypatch.setattr(section, "MAX_TOKENS", 8)
    at = opened(private_models, "patterns", "qwen3_5")
    at = at.slider(key="implicit_window").set_value(5).run()
    clean(at, "implicit window")
    drawn = decode(chart(at, "implicit_heatmap")["data"][0]["z"])
    from attention_core import load_model

    ours = load_model(str(private_models / "models" / "tiny-qwen3_5"), device="cpu").trace(TEXT)
    assert drawn.shape == (8, 8) and np.allclose(np.nan_to_num(drawn), implicit_weights_of(ours, 0, 5, 13)[0])
    assert any("Drawn for tokens 5–12 of" in c.value for c in at.caption)


def test_the_window_follows_a_new_shorter_text(private_models, monkeypatch) -> None:
    """The window's slider at the end of one text, then a shorter text: the section draws the new text's window."""
    from ui import implicit_weights as section

    monkeypatch.setattr(section, "MAX_TOKENS", 8)
    at = opened(private_models, "patterns", "qwen3_5")
    last = int(at.slider(key="implicit_window").max)
    at = at.slider(key="implicit_window").set_value(last).run()
    said = " ".join(c.value for c in at.caption)
    assert f"Drawn for tokens {last}–{last + 7} of {last + 8}," in said, said
    at = at.text_area(key="text").set_value("a short text here").run()
    clean(at, "a shorter text")
    said = " ".join(c.value for c in at.caption)
    assert "Drawn for tokens 0–7 of 15," in said  # 15 byte-level tokens, the window back at their start
    assert decode(chart(at, "implicit_heatmap")["data"][0]["z"]).shape == (8, 8)
