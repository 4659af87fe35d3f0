"""What a model's attention adds is shown, not hidden: a tiny Gemma 2 (sliding window of 8 on even layers,
scores soft-capped at 5) loaded through *Another model* shows its window as its own mask and its scores
before and after the cap on the masking page, and the sidebar names both."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.fit import CODE_LINE_CHARS
from tests.app.helpers import chart, decode
from tests.tiny_folders import tiny_folder

pytest.importorskip("transformers")

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"


@pytest.fixture
def gemma2(private_models) -> Path:
    from tests.tiny_models import save_tiny

    folder = private_models / "models" / "tiny-gemma2"
    folder.mkdir(parents=True)
    save_tiny("gemma2", folder)
    return folder


def test_sliding_window_and_softcap_are_drawn_and_named(gemma2) -> None:
    from attention_core import load_model

    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "masking", "text": TEXT, "layer": "0", "head": "1"})
    at.run()
    at.text_input(key="model_request").set_value(str(gemma2))
    at = at.button(key="model_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["model"] == str(gemma2)
    said = " ".join(c.value for c in at.sidebar.caption)
    assert "sliding window of 8 tokens (1 of 2 layers)" in said and "soft-capped at ±5" in said

    trace = load_model(str(gemma2), device="cpu").trace(TEXT)
    n, layer, head = trace.n_tokens, at.session_state["ctx"].layer, at.session_state["ctx"].head
    assert layer == 0  # a sliding-window layer (Gemma 2: the even ones)
    masks = chart(at, "window_masks")["data"]  # causal, window, used
    assert len(masks) == 3
    np.testing.assert_array_equal(decode(masks[0]["z"]) > 0.5, np.tril(np.ones((n, n), dtype=bool)))
    np.testing.assert_array_equal(decode(masks[1]["z"]) > 0.5, trace.window_mask(0).numpy())
    np.testing.assert_array_equal(decode(masks[2]["z"]) > 0.5, trace.mask(0).numpy())
    assert not trace.mask(0)[-1, : n - 8].any()  # the window bites on this text

    before, after = (decode(panel["z"]) for panel in chart(at, "softcap")["data"])
    allowed = trace.mask(0).numpy()
    np.testing.assert_allclose(before[allowed], trace.scores(0, head, capped=False).numpy()[allowed], atol=1e-5)
    np.testing.assert_allclose(after[allowed], trace.scores(0, head).numpy()[allowed], atol=1e-5)
    assert np.abs(before[allowed]).max() > 5.0 > np.abs(after[allowed]).max()  # the cap bites


def test_a_layer_without_window_draws_no_window_mask(gemma2) -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "masking", "text": TEXT})
    at.run()
    at.text_input(key="model_request").set_value(str(gemma2))
    at = at.button(key="model_load").click().run()
    at.sidebar.slider(key="layer").set_value(1).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["ctx"].layer == 1
    keys = [c.proto.id for c in at.get("plotly_chart")]
    assert not any("window_masks" in k for k in keys) and any("softcap" in k for k in keys)


def test_inside_one_head_states_the_models_own_scale_and_soft_cap(gemma2) -> None:
    """Gemma 2 scales q·k by query_pre_attn_scalar^-½ (here 1/√24, not 1/√d_head = 1/4) and soft-caps the
    result at 5 before the mask: the worked entry names both steps, and its softmax reads the capped score."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "inside_head", "text": TEXT, "layer": "0", "head": "1"})
    at.run()
    at.text_input(key="model_request").set_value(str(gemma2))
    at = at.button(key="model_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    worked = next(c.value for c in at.code if "q_i · k_j" in c.value)
    assert "key j is further back than this layer's sliding\n               window of 8 keys" in worked  # key 0
    assert max(map(len, worked.splitlines())) <= CODE_LINE_CHARS  # each line whole at 1024 px
    key = next(box for box in at.selectbox if box.label.startswith("Key j"))
    at = key.set_value(key.options[-1]).run()  # the query itself: inside the window
    worked = next(c.value for c in at.code if "q_i · k_j" in c.value)
    assert "÷ √d_head" not in worked and "the model's own scale 1/4.89898, not 1/√d_head" in worked  # √24, not √16
    assert "soft-cap       = 5·tanh(" in worked
    assert max(map(len, worked.splitlines())) <= CODE_LINE_CHARS
    ctx = at.session_state["ctx"]
    cell = ctx.trace.head_steps(ctx.layer, ctx.head).cell(ctx.trace.n_tokens - 1, ctx.trace.n_tokens - 1)
    assert cell["capped"] != cell["scaled"] and f"exp({cell['capped']:.6g} −" in worked


def opened_with(page: str, folder: Path, **params: str) -> AppTest:
    """The page (with any other URL `params`), with the model in `folder` loaded through *Another model*."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": page, "text": TEXT, **params})
    at.run()
    at.text_input(key="model_request").set_value(str(folder))
    return at.button(key="model_load").click().run()


def test_inside_one_head_titles_clamped_q_k_and_v_as_clamped(private_models) -> None:
    """OLMo 1.7 clamps q, k and v after their maps (clip_qkv): the charts drawing them say clip(·, ±c), and the
    caption says the model clamps them (the Q and K titles read "E·W_Q + b_Q" over clamped numbers at first)."""
    at = opened_with("inside_head", tiny_folder(private_models, "olmo_clip"), layer="1", head="0")
    assert not at.exception, [e.value for e in at.exception]
    titles = {key: chart(at, key)["layout"]["title"]["text"] for key in ("mech_Q_pre", "mech_K_pre", "mech_V")}
    assert titles["mech_Q_pre"].startswith("Q = clip(E·W_Q + b_Q, ±2)"), titles
    assert titles["mech_K_pre"].startswith("K = clip(E·W_K + b_K, ±2)") and "clip(E·W_V + b_V, ±2)" in titles["mech_V"]
    assert any("clamps q, k and v to ±2" in c.value for c in at.caption)


def test_inside_one_head_names_the_one_other_head_sharing_its_key_and_value(gemma2) -> None:
    """Two query heads per key/value head: the note read "which query heads 1 use too"."""
    at = opened_with("inside_head", gemma2)
    assert not at.exception, [e.value for e in at.exception]
    note = next(i.value for i in at.info if "Grouped-query attention" in i.value)
    assert "which query head 1 uses too" in note, note


def test_inside_one_heads_vector_table_has_gemmas_own_scale_and_soft_cap(gemma2) -> None:
    at = opened_with("inside_head", gemma2)
    quantities = [q for df in at.dataframe if "quantity" in df.value.columns for q in df.value["quantity"]]
    assert any(q.endswith("(the model's own scale)") for q in quantities), quantities
    assert "soft-cap: 5·tanh(s / 5)" in quantities, quantities


def test_inside_one_head_draws_the_output_gate_where_the_model_gates_its_heads(private_models, gemma2) -> None:
    """AFMoE multiplies each head's z by σ(E·W_G) before W_O: Inside one head draws that step (the gate and the
    gated z) and names Δe's product with it; a model without a gate (Gemma 2) has neither."""
    at = opened_with("inside_head", tiny_folder(private_models, "afmoe"), layer="1", head="2")
    assert not at.exception, [e.value for e in at.exception]
    headers = [h.value for h in at.subheader]
    assert "6½ · Output gate: z ⊙ σ(E·W_G[head])" in headers, headers
    assert "8 · Δe = (z ⊙ g)·W_O[head]: what this head adds to each embedding" in headers, headers
    plain = [h.value for h in opened_with("inside_head", gemma2).subheader]
    assert not any("Output gate" in h for h in plain)
    assert "8 · Δe = z·W_O[head]: what this head adds to each embedding" in plain, plain


def test_start_heres_values_step_adds_up_a_gated_heads_delta(private_models) -> None:
    """Start here's "one token's row, added up" sums each source's A[q, j]·v_j·W_O: in a model that gates its heads'
    outputs, each of those carries the query's gate, or the sum is not the Δe drawn above it (it was not)."""
    at = opened_with("start", tiny_folder(private_models, "afmoe"))
    at.switch_page("app_pages/start_here.py")
    at.session_state["start_step"] = "values"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(c.value for c in at.caption)
    found = re.search(r"equals row \d+ of the Δe above (exactly|to within ([0-9.e+-]+))", said)
    assert found and (found[1] == "exactly" or float(found[2].rstrip(".")) < 1e-6), said
    assert "the query's gate g_i" in " ".join(m.value for m in at.markdown), "the step names the gate each row carries"


def test_the_pages_that_split_a_heads_output_by_source_name_the_gate_in_their_formula(private_models) -> None:
    """Where a head's output is gated, what a key sends is A[i,j]·(g_i ⊙ v_j)·W_O: the value-weighted toggle, the
    embedding shifts and the contribution graph say so, not A[i,j]·v_j·W_O."""
    folder = tiny_folder(private_models, "afmoe")
    at = opened_with("patterns", folder)
    assert any(t.label == "Colour by what is sent: ‖A[i,j]·(g_i ⊙ v_j)·W_O‖" for t in at.toggle), [
        t.label for t in at.toggle]
    at = at.switch_page("app_pages/embedding_shifts.py").run()
    assert "A[i, j]·((g_i ⊙ v_j)·W_O[head])" in " ".join(c.value for c in at.caption)
    at = at.switch_page("app_pages/contribution_graph.py").run()
    assert "(A[i,j]·(g_i ⊙ v_j)·W_O, summed over heads)" in " ".join(m.value for m in at.markdown)


@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("phi", ("attention and MLP in parallel, from one norm", "RoPE on 8 of 16 dimensions per head")),
        ("phi_qk", ("LayerNorm on queries and keys per head",)),
        ("stablelm_qk", ("LayerNorm on queries and keys per head",)),
        ("cohere_qk", ("LayerNorm on queries and keys per head",
                       "RoPE on neighbouring pairs of dimensions (q and k listed even dimensions first)")),
        ("persimmon", ("LayerNorm on queries and keys per head", "RoPE on 8 of 16 dimensions per head")),
        ("falcon_rw", ("ALiBi: each head adds its own slope × the key's position to every score, no position "
                       "embedding; the slopes ÷ √d_head, as the model adds them to q·k before its scale",)),
        ("starcoder2", ("sliding window of 8 tokens",)),
        ("mpnet", ("relative position bias, beside q·k (32 buckets to 128 tokens; bidirectional)",)),
        ("qwen3_moe", ("a mixture of 4 experts in the MLP, 2 per token",)),
        ("bloom", ("ALiBi: each head adds its own slope × the key's position to every score",)),
        ("falcon", ("grouped-query attention (4 query heads per key/value head)",)),
        ("gpt_neo", ("q·k not scaled (no 1/√d_head)", "sliding window of 8 tokens (1 of 2 layers)")),
        ("gptj", ("RoPE on 8 of 16 dimensions per head", "attention and MLP in parallel, from one norm",
                  "RoPE on neighbouring pairs of dimensions (q and k listed even dimensions first)")),
        ("modernbert", ("local attention: keys up to 4 tokens either side (2 of 3 layers)",
                        "RoPE base 10000 on sliding layers, 160000 elsewhere")),
        ("opt", ()),  # learned positions from 2, ReLU: nothing in its attention differs from GPT-2's
        ("phi3_longrope", ("RoPE scaling: longrope, short factors (texts up to 64 tokens), attention factor 1.08",)),
        ("gpt_bigcode", ("grouped-query attention (4 query heads per key/value head)",)),
        ("nemotron", ("RoPE on 8 of 16 dimensions per head",)),
        ("cohere2", ("no RoPE in 1 of 4 layers (layer 3)", "sliding window of 8 tokens (3 of 4 layers)")),
        ("granitemoe", ("a mixture of 4 experts in the MLP, 2 per token", "each sublayer's output × 0.5")),
        ("granite", ("each sublayer's output × 0.5 before it is added", "logits × 0.25", "scores scaled by 0.2")),
        ("olmo", ("LayerNorm without learned weights or biases",)),
        ("exaone4_hybrid", ("no RoPE in 1 of 4 layers (layer 3)", "RMSNorm on queries and keys per head",
                            "a norm on each sublayer's output")),
        ("glm4", ("RoPE on neighbouring pairs of dimensions (q and k listed even dimensions first)",
                  "RoPE on 8 of 16 dimensions per head", "a norm on each sublayer's output")),
        ("mistral3", ("texts up to 32 tokens, past which Ministral 3 also scales its queries",)),
        ("hunyuan_alpha", ("RMSNorm on queries and keys per head, after RoPE", "RoPE scaling: NTK alpha 8")),
        ("arcee", ()),  # a plain squared-ReLU MLP: nothing in its attention differs from Llama's
        ("apertus", ("RMSNorm on queries and keys per head",)),  # and xIELU in its MLP
        ("qwen3_vl", ("RMSNorm on queries and keys per head",)),  # the language model of a vision checkpoint
        ("gpt_oss", ("attention sinks: a learned logit per head takes a share of every row's weight",
                     "a mixture of 4 experts in the MLP, 2 per token", "sliding window of 8 tokens (1 of 2 layers)")),
        ("embedding_gemma", ("local attention: keys up to 4 tokens either side (2 of 3 layers)",)),
        ("bart", ()),  # encoder-decoders: learned positions per stack, norms after (BART) or before (mBART) each
        ("mbart", ()),  # sublayer; Pegasus: fixed sinusoids. Nothing in their attention differs from Marian's
        ("pegasus", ()),
        ("m2m_100", ()),  # NLLB's layout: fairseq's sinusoids; nothing in its attention differs either
        ("plbart", ()),  # BART's layout
        ("blenderbot", ()),  # pre-norm, learned positions from row 0
        ("led", ("local attention: keys up to 4 tokens either side (every encoder layer)",)),
        ("t5gemma", ("local attention: keys up to 4 tokens either side (2 of 3 encoder layers)",
                     "the decoder's sliding window of 4 tokens (on the same layers)",
                     "attention scores soft-capped at ±50", "a norm on each sublayer's output")),
        ("bigbird_pegasus", ("Texts are capped at 28 tokens: up to there BigBird-Pegasus's encoder attends to every",)),
        ("umt5", ("relative position bias, beside q·k (8 buckets to 16 tokens; bidirectional in the encoder, causal in "
                  "the decoder, each layer its own)",)),
        ("deberta", ("disentangled attention: content→position and position→content terms beside q·k",
                     "scores scaled by 1/√(3·d_head) = 0.1443")),
        ("deberta_v1", ("disentangled attention: content→position and position→content terms beside q·k (offsets "
                        "exact, clamped at ±16)", "scores scaled by 1/√(3·d_head) = 0.1443")),
        ("olmo3", ("sliding window of 8 tokens (3 of 4 layers)", "RoPE scaling: yarn, factor 4 over 32 tokens, "
                   "attention factor 1.139 (full-attention layers only)", "a norm on each sublayer's output")),
        ("deepseek_v3", ("multi-head latent attention: keys and values from one shared latent of 16 numbers per "
                         "token, queries from one of 24; values 12 wide", "(sigmoid router), chosen within the best 2 "
                         "of 4 groups", "RoPE on the last 8 of 16 dimensions per head")),
        ("deepseek_v2", ("multi-head latent attention: keys and values from one shared latent of 16 numbers per "
                         "token, queries from the residual; values 12 wide",)),
        ("glm4_moe", ("a mixture of 8 experts in the MLP, 2 per token (sigmoid router), chosen within the best 2 of 4 "
                      "groups", "RoPE on 8 of 16 dimensions per head")),
        ("dots1", ("RMSNorm on queries and keys per head", "(sigmoid router), chosen within the best 2 of 4 groups")),
        ("llama4_text", ("RMS normalisation (no learned weight) on queries and keys per head, after RoPE in 3 of 4 "
                         "layers (layers 0, 1, 2)", "no RoPE in 1 of 4 layers (layer 3)", "RoPE on neighbouring pairs",
                         "1 per token (sigmoid router), each chosen expert's weight multiplying its input")),
        ("llama4", ("no RoPE in 1 of 4 layers (layer 3)", "a mixture of 4 experts in the MLP, 1 per token")),
        ("minimax_m2", ("RMSNorm on queries and keys", "RoPE on 8 of 16 dimensions per head",
                        "a mixture of 4 experts in the MLP, 2 per token (sigmoid router)")),
        ("qwen3_vl_moe", ("RMSNorm on queries and keys per head", "a mixture of 4 experts in the MLP, 2 per token")),
        ("vaultgemma", ("attention scores soft-capped at ±5", "sliding window of 8 tokens (1 of 2 layers)")),
        ("ernie4_5_moe", ("RoPE on neighbouring pairs", "a mixture of 4 experts in the MLP, 2 per token")),
        ("flex_olmo", ("a norm on each sublayer's output", "a mixture of 4 experts in the MLP, 2 per token")),
        ("solar_open", ("a mixture of 8 experts in the MLP, 2 per token (sigmoid router), chosen within the best 2 "
                        "of 4 groups",)),
        ("exaone_moe", ("no RoPE in 1 of 4 layers (layer 3)", "sliding window of 8 tokens (3 of 4 layers)",
                        "(sigmoid router), chosen within the best 2 of 4 groups")),
        ("hunyuan_moe", ("RMSNorm on queries and keys per head, after RoPE", "a mixture of 4 experts in the MLP, 2 per "
                         "token")),
        ("deepseek_v32", ("multi-head latent attention", "Texts are capped at 64 tokens: past them each query attends "
                          "only to the 64 keys its indexer (DeepSeek Sparse Attention) picks")),
        ("kimi_k25", ("multi-head latent attention: keys and values from one shared latent of 16 numbers per token",
                      "(sigmoid router), chosen within the best 2 of 4 groups")),
        ("glm_moe_dsa", ("multi-head latent attention", "Texts are capped at 64 tokens: past them each query attends "
                         "only to the 64 keys its indexer (DeepSeek Sparse Attention) picks")),
        ("youtu", ("multi-head latent attention: keys and values from one shared latent of 16 numbers per token",)),
        ("axk1", ("multi-head latent attention", "a norm on the MLP's output before it is added in 2 of 3 layers "
                  "(layers 1, 2)", "(sigmoid router), chosen within the best 2 of 4 groups")),
        ("mistral4", ("multi-head latent attention", "Texts are capped at 32 tokens: past them Mistral 4 also scales "
                      "its queries")),
        ("exaone4_5", ("no RoPE in 1 of 4 layers (layer 3)", "sliding window of 8 tokens (3 of 4 layers)")),
        ("cohere2_moe", ("no RoPE in 1 of 5 layers (layer 4)", "sliding window of 8 tokens (3 of 5 layers)",
                         "a mixture of 4 experts in the MLP, 2 per token")),
        ("cwm", ("sliding window of 8 tokens (3 of 4 layers)", "RoPE scaling: llama3, factor 4")),
        ("hyperclovax", ("a norm on each sublayer's output", "each sublayer's output × 0.5 before it is added (in the "
                         "weights of the norms on the sublayers' outputs)", "logits × 4")),
        ("mellum", ("sliding window of 8 tokens (3 of 4 layers)", "a mixture of 4 experts in the MLP, 2 per token")),
        ("hy_v3", ("RMSNorm on queries and keys per head", "a mixture of 4 experts in the MLP, 2 per token (sigmoid "
                   "router)")),
        ("flint", ("attention sinks: a learned logit per head takes a share of every row's weight",
                   "no RoPE in 3 of 4 layers (layers 0, 1, 3)", "sliding window of 8 tokens (1 of 4 layers)",
                   "a mixture of 4 experts in the MLP, 2 per token (sigmoid router)")),
        ("afmoe", ("each head's output gated: z × σ(E·W_G), per query and dimension, before W_O",
                   "no RoPE in 2 of 4 layers (layers 1, 3)",
                   "a mixture of 4 experts in the MLP, 2 per token (sigmoid")),
        ("kolibri1", ("no RoPE in 1 of 5 layers (layer 4)", "a norm on each sublayer's output",
                      "a mixture of 4 experts in the MLP, 2 per token (sigmoid router, choosing by its logits)")),
        ("mimo_v2_flash", ("attention sinks", "grouped-query attention (2 or 1 query heads per key/value head, by "
                           "layer)", "multipliers folded into the weights (attention value scale 0.6)",
                           "sliding window of 8 tokens (2 of 4 layers)")),
        ("olmo_clip", ("q, k and v clamped to ±2 after their maps (clip_qkv)",)),
        ("dbrx", ("q, k and v clamped to ±2 after their maps (clip_qkv)", "a mixture of 4 experts in the MLP, 2 per "
                  "token")),
        ("jais2", ()),  # LayerNorms and biases, a squared-ReLU MLP: nothing in its attention differs from Llama's
        ("phimoe", ("a mixture of 4 experts in the MLP, 2 per token (SparseMixer", "RoPE scaling: longrope")),
        ("granite_swa", ("attention sinks: a learned logit per head takes a share of every row's weight",
                         "RoPE base per layer (50, 1000)", "no RoPE in 1 of 4 layers (layer 1)")),
        ("granitemoehybrid_moe", ("no RoPE in 2 of 2 layers", "a mixture of 4 experts in the MLP, 2 per token")),
        ("granitemoe_swa", ("attention sinks", "a mixture of 4 experts in the MLP, 2 per token",
                            "RoPE base per layer (50, 1000)")),
        ("eurobert", ()),  # a Llama reading both ways: nothing in its attention differs but the mask
        ("ultrabert", ("local attention: keys up to 3 tokens either side (2 of 3 layers)",)),
        ("nomic_bert", ()),  # BERT's layers with RoPE for positions: nothing else in its attention differs
        ("gte", ()),  # Nomic BERT's, with biases
        ("jina_v3", ()),  # XLM-RoBERTa's with RoPE
        ("codegen", ("RoPE on 4 of 8 dimensions per head", "attention and MLP in parallel, from one norm")),
        ("openai_gpt", ()),  # GPT-1: GPT-2's parts in BERT's post-norm order; nothing in its attention differs
        ("xglm", ()),
        ("xlm-roberta-xl", ()),  # RoBERTa's layers with their norms before each sublayer
        ("megatron-bert", ()),  # BERT's likewise
        ("rembert", ()),  # BERT's layers; its narrow embeddings projected up
        ("switch", ("a mixture of 4 experts in the MLP, 1 per token", "Texts are capped at 48 tokens")),
        ("roberta-prelayernorm", ()),
        ("ernie", ()),  # BERT's attention; its task-type embedding is added before layer 0
        ("longformer", ("local attention: keys up to 4 tokens either side (every layer)",)),
        ("roformer", ("RoPE on neighbouring pairs of dimensions (q and k listed even dimensions first)",)),
        ("albert", ("weights shared across layers: its 3 layers run one block's weights",)),
        ("big_bird", ("Texts are capped at 56 tokens: up to there BigBird attends to every key",)),
        ("esm", ("token dropout: a <mask> token's embedding zeroed", "ESM reads protein sequences",
                 "a masked-language-model head (dense, gelu, LayerNorm, unembedding)")),
        ("cls_distilbert", ("a sequence-classification head (relu pooler on the first token, 3 labels)",)),
        ("tag_electra_discriminator", ("a replaced-token-detection head (ELECTRA's discriminator: is each token the "
                                       "text's own or replaced?)",)),  # fmt: skip
        ("clsdec_llama", ("a sequence-classification head (one linear map on the last token, 2 labels)",)),
        ("tag_esm", ("a token-classification head (each token's final embedding to one of 5 labels)",)),
        ("mlm_deberta_v2", ("a masked-language-model head (dense, gelu_tanh, LayerNorm, unembedding): its logits at a "
                            "position guess the token there",)),  # fmt: skip
        ("esm1b", ("token dropout: a <mask> token's embedding zeroed", "ESM reads protein sequences")),
        ("esmc", ("LayerNorm on queries and keys", "each sublayer's output × 3 before it is added",
                  "ESM C reads protein sequences")),
        ("mpt", ("ALiBi: each head adds its own slope × (the key's position − the last key's) to every score, no "
                 "position embedding",)),
        ("llava", ()),  # the language model of vision-language checkpoints: a Llama in both
        ("mllama", ("Its cross-attention (the checkpoint's layer 1), which reads the image, is skipped on a text",)),
        ("smolvlm", ()),  # OPT's blocks with fairseq's fixed sinusoids: nothing in its attention differs
        ("modernbert_decoder", ("sliding window of 8 tokens (2 of 3 layers)", "RoPE base 10000 on sliding layers",
                                "a prediction head (dense, gelu, LayerNorm) before the unembedding")),
        ("nanochat", ("RoPE turning each pair the other way (by −position·θ)", "logits soft-capped at ±3",
                      "RMSNorm without learned weights or biases, on the embeddings too, before the first block",
                      "RMS normalisation (no learned weight) on queries and keys per head, after RoPE")),
    ],
)
def test_every_page_opens_on_the_architectures_added_later(private_models, kind, named) -> None:
    """Phi (one LayerNorm feeding attention and MLP side by side, partial rotary, a bias on the unembedding),
    StarCoder2 (biases everywhere, a window on every layer), MPNet (an encoder with learned positions and a
    relative position bias), Qwen3-MoE (a mixture of experts after a dense layer), BLOOM, Falcon, GPT-Neo, GPT-J,
    OPT, GPT-BigCode and Granite, loaded through *Another model*: every page draws without an error, and the sidebar
    names what their attention and blocks do."""
    from app_pages.registry import PAGES
    folder = tiny_folder(private_models, kind)
    at = opened_with("guide", folder)  # the walk draws every page; the guide draws no chart of SmolLM2's first
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(e.value for kind in ("caption", "warning") for e in at.sidebar.get(kind))  # notes: warnings
    assert all(feature in said for feature in named), said
    for page in PAGES:
        at = at.switch_page(page.path).run()
        assert not at.exception, (page.name, [e.value for e in at.exception])
        assert not at.error, (page.name, [e.value for e in at.error])
        assert at.session_state["model"] == str(folder), page.name  # the page ran on this model


def test_mpnets_pages_say_its_position_embeddings_come_beside_its_bias(private_models) -> None:
    """MPNet adds learned positions to its embeddings AND a relative position bias to its scores: the masking page
    said "This model (T5) has no position embeddings", Inside one head "no position embeddings and no RoPE"."""
    folder = tiny_folder(private_models, "mpnet")
    for page in ("masking", "inside_head", "start"):
        at = AppTest.from_file(APP, default_timeout=180)
        at.query_params.update({"page": page, "text": TEXT, "step": "embeddings"})  # Start here's step
        at.run()
        at.text_input(key="model_request").set_value(str(folder))
        at = at.button(key="model_load").click().run()
        said = " ".join(e.value for kind in ("caption", "markdown", "info") for e in at.get(kind))
        assert "no position embedding" not in said and "(T5)" not in said, page
        assert "position embedding" in said and "relative position bias" in said, page


@pytest.mark.parametrize(
    ("kind", "projected"),
    [("deberta", "Q_pos and K_pos are this layer's W_Q and W_K"),
     ("deberta_v1", "Q_pos and K_pos are this layer's own position projections (not its W_Q and W_K)")],
)
def test_debertas_pages_name_its_position_terms_as_its_own(private_models, kind, projected) -> None:
    """DeBERTa adds two position terms made from each layer's q and k: the masking page and Inside one head name
    them so, show them apart from q·k with the trace's own numbers, and say nothing of T5's shared bias. v1 projects
    the position table with its own matrices, v2 and v3 with the layer's W_Q and W_K: the caption says which. Both
    divide all three terms by √(3·d_head), and say so."""
    from attention_core import load_model

    folder = tiny_folder(private_models, kind)
    trace = load_model(str(folder), device="cpu").trace(TEXT)
    for page in ("masking", "inside_head"):
        at = opened_with(page, folder, layer="1", head="2")
        assert not at.exception, [e.value for e in at.exception]
        said = " ".join(e.value for what in ("caption", "markdown", "subheader", "code") for e in at.get(what))
        assert "position terms" in said and "(DeBERTa)" in said, page
        assert "(T5)" not in said and "adds the same bias" not in said, page
        assert projected in said, page
        # q·k and the two terms are divided by √(3·d_head): named so, not as a bare factor (0.1443)
        assert "√(3·d_head)" in said and "× 0.1443" not in said, page
    assert "÷ √(3·d_head)  = " in said and f" / √{3 * trace.config.d_head} = " in said, said
    assert "key − query, ÷ √(3·d_head) too)" in said, said  # the position terms are divided by it as well
    parts = chart(at, "mech_bias")["data"][0]  # Inside one head's terms alone, from the trace
    z = decode(parts["z"]).astype(float)
    np.testing.assert_allclose(z, trace.position_bias(1, 2).numpy()[: z.shape[0], : z.shape[1]], atol=1e-5)


def test_umt5s_masking_page_says_each_layer_has_its_own_bias(private_models) -> None:
    """umT5 keeps a bias table in every layer: the page said "Every layer of the stack adds the same bias"."""
    at = opened_with("masking", tiny_folder(private_models, "umt5"), layer="1")
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(c.value for c in at.caption)
    assert "Each layer of this model has its own table" in said and "adds the same bias" not in said


def test_inside_one_head_says_a_nope_layer_rotates_nothing(private_models) -> None:
    """SmolLM3 skips RoPE in every 4th layer (the tiny one: every 2nd): there Inside one head draws no "after RoPE"
    step and says why, the sidebar names those layers, and a layer with RoPE still draws its rotation."""
    folder = tiny_folder(private_models, "smollm3")
    for layer, rotates in ((1, False), (0, True)):
        at = AppTest.from_file(APP, default_timeout=180)
        at.query_params.update({"page": "inside_head", "text": TEXT, "layer": str(layer), "head": "0"})
        at.run()
        at.text_input(key="model_request").set_value(str(folder))
        at = at.button(key="model_load").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state["ctx"].layer == layer
        said = " ".join(c.value for c in at.caption)
        keys = [c.proto.id for c in at.get("plotly_chart")]
        assert any("mech_Q" in k and "mech_Q_pre" not in k for k in keys) == rotates, keys
        assert ("Layer 1 of `tiny-smollm3` rotates nothing (no RoPE)" in said) == (not rotates), said
    assert "no RoPE in 1 of 2 layers (layer 1)" in " ".join(c.value for c in at.sidebar.caption)
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "start", "text": TEXT, "step": "embeddings"})
    at.run()
    at.text_input(key="model_request").set_value(str(folder))
    at = at.button(key="model_load").click().run()
    said = " ".join(m.value for m in at.markdown)
    assert "(RoPE) (1 of its 2 layers rotates nothing: their scores see no position)" in said, said



def test_blooms_pages_say_its_position_is_alibis_slopes(private_models) -> None:
    """BLOOM's scores carry position as ALiBi's slope × key position: the pages that explain a position bias
    described only T5's learned buckets."""
    folder = tiny_folder(private_models, "bloom")
    for page in ("masking", "inside_head", "start"):
        at = AppTest.from_file(APP, default_timeout=180)
        at.query_params.update({"page": page, "text": TEXT, "step": "embeddings"})
        at.run()
        at.text_input(key="model_request").set_value(str(folder))
        at = at.button(key="model_load").click().run()
        assert not at.exception, [e.value for e in at.exception]
        said = " ".join(e.value for kind in ("caption", "markdown") for e in at.get(kind))
        assert "ALiBi" in said and "bucket" not in said and "(T5" not in said and "T5's" not in said, page


def test_modernberts_local_layers_are_drawn_and_told_as_reaching_both_ways(private_models) -> None:
    """ModernBERT's local layers see keys at most 4 positions away (the tiny one), before or after the query: the
    masking page said "further back", the window's mask had a causal panel beside it, and Inside one head called a
    key far ahead of the query "after query i" although this model masks no later key."""
    folder = tiny_folder(private_models, "modernbert")
    at = opened_with("masking", folder, layer="1", head="0")
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(c.value for c in at.caption)
    assert "keys up to 4 positions away, before or after it" in said and "further back" not in said, said
    panels = chart(at, "window_masks")["data"]  # the window, and the mask used: no causal panel
    window = decode(panels[0]["z"]) > 0.5
    n = window.shape[0]
    distance = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    assert len(panels) == 2 and n > 9 and np.array_equal(window, distance <= 4)
    at = at.switch_page("app_pages/inside_head.py").run()
    assert not at.exception, [e.value for e in at.exception]
    code = " ".join(c.value for c in at.code)  # the default entry: the last query and the first key, far apart
    assert "more than 4 positions from query i" in code and "comes after" not in code, code


def test_inside_one_head_says_gptjs_pairs_are_listed_even_dimensions_first(private_models) -> None:
    """GPT-J rotates neighbouring pairs; its q and k columns are listed even dimensions first (q·k unchanged), so
    column i is not the model's dimension i: Inside one head says which is which."""
    folder = tiny_folder(private_models, "gptj")
    at = opened_with("inside_head", folder)
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(c.value for c in at.caption)
    assert "listed even ones first: see RoPE below" in said, said
    assert "column i < 4 is its dimension 2i and column 4 + i its dimension 2i + 1" in said, said


def test_inside_one_head_says_longrope_scales_the_rotated_q_and_k(private_models) -> None:
    """LongRoPE multiplies cos and sin by its attention factor: the rotated q and k are longer than before RoPE,
    which the rotation's caption (a rotation keeps lengths) did not say."""
    folder = tiny_folder(private_models, "phi3_longrope")
    at = opened_with("inside_head", folder)
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(c.value for c in at.caption)
    assert "(LongRoPE) also multiplies the rotated dimensions by 1.08" in said, said


def test_inside_one_head_names_yarn_as_the_rule_that_scales_q_and_k(private_models) -> None:
    """YaRN, like LongRoPE, multiplies cos and sin (here by 1 + 0.1 ln 4); the caption names the rule it has."""
    folder = tiny_folder(private_models, "qwen3_yarn")
    at = opened_with("inside_head", folder)
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(c.value for c in at.caption)
    assert "(YaRN) also multiplies the rotated dimensions by 1.139" in said, said
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "RoPE scaling: yarn, factor 4 over 32 tokens, attention factor 1.139" in sidebar, sidebar


def test_olmos_pages_do_not_give_its_norms_learned_weights(private_models) -> None:
    """OLMo (1) normalises without a learned weight or bias: Inside one head and Start here said "·w + b" and
    "scaled and shifted per dimension by learned weights"."""
    folder = tiny_folder(private_models, "olmo")
    at = opened_with("inside_head", folder)
    said = " ".join(c.value for c in at.caption)
    assert "LayerNorm(x), without learned weights" in said and "·w + b" not in said, said
    at = opened_with("start", folder, step="embeddings")
    said = " ".join(e.value for kind in ("caption", "markdown") for e in at.get(kind))
    assert "no learned scale or shift" in said and "by learned weights" not in said, said


@pytest.mark.parametrize(
    ("kind", "named", "words"),
    [
        ("qwen3", "Q = RMSNorm(E·W_Q)·w_q  [", "divided by their root-mean-square"),
        ("olmo2", "Q = RMSNorm(E·W_Q, all heads)·w_q  [", "divided by their root-mean-square"),
        # a LayerNorm per head: each head its own weight (StableLM 2 12B), or one shared with a bias (Persimmon)
        ("stablelm_qk", "Q = LayerNorm(E·W_Q + b_Q)·w_q  [", "centred on their mean"),
        ("stablelm_qk", "Q = LayerNorm(E·W_Q + b_Q)·w_q  [", "(q_norm, k_norm, each head its own)"),
        ("persimmon", "Q = LayerNorm(E·W_Q + b_Q)·w_q  [", "then shifted by learned biases"),
    ],
)  # fmt: skip
def test_inside_one_head_names_the_q_norm_in_what_it_draws(private_models, kind, named, words) -> None:
    """Qwen3 and OLMo 2 normalise q and k before RoPE: Inside one head titled the normalised q "Q = E·W_Q" and
    said nothing of the norm, so the numbers on screen were not the product the title named. A LayerNorm model's
    per-head q/k norm is a LayerNorm, which the title and the caption name."""
    from tests.app.helpers import chart

    at = opened_with("inside_head", tiny_folder(private_models, kind))
    assert not at.exception, [e.value for e in at.exception]
    title = chart(at, "mech_Q_pre")["layout"]["title"]["text"]
    assert named in title, title
    said = " ".join(c.value for c in at.caption)
    assert "q_norm" in said and "before RoPE" in said and words in said, said


def test_inside_one_head_puts_hunyuans_q_norm_after_the_rotation(private_models) -> None:
    """Hunyuan normalises q and k after RoPE: the "before RoPE" charts draw E·W_Q itself, the "after RoPE" ones the
    normalised rotation, and the caption says so."""
    from tests.app.helpers import chart, figure_spec

    at = opened_with("inside_head", tiny_folder(private_models, "hunyuan"))
    assert not at.exception, [e.value for e in at.exception]
    assert chart(at, "mech_Q_pre")["layout"]["title"]["text"].startswith("Q = E·W_Q  [")
    rotated = next(figure_spec(e) for e in at.get("plotly_chart") if e.key == "mech_Q")
    assert "RMSNorm(RoPE(E·W_Q))·w_q  [" in rotated["layout"]["title"]["text"]
    said = " ".join(c.value for c in at.caption)
    assert "after RoPE" in said and "q_norm" in said, said


def test_inside_one_head_gives_llama4s_q_norm_no_weight_and_none_where_nothing_rotates(private_models) -> None:
    """Llama 4 normalises q and k after RoPE with no learned weight, and only in the layers that rotate: the rotated
    charts' titles have no ·w_q, the caption says there is no weight, and a NoPE layer names no norm at all."""
    from tests.app.helpers import figure_spec

    folder = tiny_folder(private_models, "llama4_text")
    for layer, rotates in ((0, True), (3, False)):
        at = opened_with("inside_head", folder, layer=str(layer), head="1")
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state["ctx"].layer == layer
        said = " ".join(c.value for c in at.main.caption)
        rotated = [figure_spec(e)["layout"]["title"]["text"] for e in at.get("plotly_chart") if e.key == "mech_Q"]
        assert rotated == (["Q = RMSNorm(RoPE(E·W_Q))  [43 × 16]"] if rotates else []), rotated
        assert ("no learned weight" in said) == rotates and "q_norm" not in said, said
        assert ("rotates nothing (no RoPE)" in said) == (not rotates), said
        vectors = next(c.value for c in at.main.caption if c.value.startswith("Each token gets its own query"))
        assert vectors.count("(") == vectors.count(")"), vectors  # a NoPE layer's words had a stray ")"
        assert ("see RoPE below" in vectors) == rotates, vectors  # and pointed to a rotation it does not draw


def test_inside_one_head_says_nanochat_turns_its_pairs_the_other_way(private_models) -> None:
    """NanoChat rotates by −position·θ: Inside one head's RoPE note says so, beside the weightless q/k norm."""
    at = opened_with("inside_head", tiny_folder(private_models, "nanochat"))
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(c.value for c in at.main.caption)
    assert "turns each pair the other way from most models, by −position × its frequency" in said, said
    assert "no learned weight" in said and "RMSNorm(x), without learned weights" in said, said


def test_a_sink_models_pages_say_its_rows_sum_to_less_than_one(private_models) -> None:
    """GPT-OSS's attention sinks take a share of every row: the patterns page must not say a row sums to 1, and
    Inside one head's softmax line counts the sink's term in the denominator."""
    folder = tiny_folder(private_models, "gpt_oss")
    at = opened_with("patterns", folder)
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(c.value for c in at.caption)
    assert "sums to 1 less its head's attention-sink share" in said and "sums to 1." not in said, said
    assert "Per query, the weight it gives the sink" in said and "rows sum to 1 less the head's sink share" in said
    at = opened_with("inside_head", folder)
    at = at.slider(key="layer").set_value(1).run()  # a full layer: layer 0's window masks the picked key
    assert not at.exception, [e.value for e in at.exception]
    code = " ".join(c.value for c in at.code)
    assert "+ sink term)" in code and "sink term      = exp(" in code, code
    said = " ".join(c.value for c in at.caption)
    assert "This head has an attention sink (GPT-OSS)" in said and "still sums to 1." not in said, said


@pytest.mark.parametrize("kind", ["deepseek_v3", "deepseek_v2"])
def test_latent_attention_names_what_q_and_k_are_read_from(private_models, kind) -> None:
    """DeepSeek's queries and keys are not E·W_Q and E·W_K: Start here's query-key step and Inside one head title
    them as the products they are (c_Q·W_UQ, or E·W_Q without a query latent; [c_KV·W_UK | E·W_KR]), and Inside one
    head draws the latents, the head's maps up from them and its values at their own width."""
    folder = tiny_folder(private_models, kind)
    q_from = "c_Q·W_UQ" if kind == "deepseek_v3" else "E·W_Q"
    at = opened_with("start", folder, step="query-key")
    assert not at.exception, [e.value for e in at.exception]
    titles = {key: chart(at, key)["layout"]["title"]["text"] for key in ("start_Q", "start_K")}
    assert titles["start_Q"].startswith(f"Q = {q_from}  [") and titles["start_Q"].endswith("after RoPE")
    assert titles["start_K"].startswith("K = [c_KV·W_UK | E·W_KR]  [")
    said = " ".join(c.value for c in at.caption)
    assert "each head's key is read up from one small latent c_KV of 16 numbers per token" in said, said
    at = at.switch_page("app_pages/inside_head.py").run()
    assert not at.exception, [e.value for e in at.exception]
    keys = [str(getattr(element, "key", "") or "") for element in at.get("plotly_chart")]
    shown = {key: chart(at, key)["layout"]["title"]["text"] for key in ("mech_WK", "mech_WKR", "mech_V", "mech_WO")}
    assert shown["mech_WK"].startswith("W_UK (head ") and shown["mech_WKR"].startswith("W_KR (every head)")
    assert shown["mech_V"].startswith("V = c_KV·W_UV  [") and shown["mech_V"].endswith(" × 12]")
    assert shown["mech_WO"].endswith("[12 × 64]")
    assert chart(at, "mech_cKV")["layout"]["title"]["text"].startswith("c_KV = RMSNorm(E·W_DKV)  [")
    assert any(key.startswith("mech_cQ") for key in keys) == (kind == "deepseek_v3")


def test_the_calculator_says_latent_attention_is_not_four_maps_per_head(private_models) -> None:
    """The Parameters page's calculator counts the chapter's four d_model × d_head maps per head; on DeepSeek's shape
    it says its attention is read from latents instead, and points to the exact count below."""
    at = opened_with("parameters", tiny_folder(private_models, "deepseek_v3"))
    at.button(key="mech_preset_loaded").click().run()
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(c.value for c in at.caption)
    assert "multi-head latent attention" in said and "not four d_model × d_head maps per head" in said, said


def test_the_calculator_says_alberts_layers_share_their_maps(private_models) -> None:
    """ALBERT's 3 layers (the tiny one) run one block's weights: the calculator's count for its shape is three
    layers' maps, its real count (below) one layer's."""
    at = opened_with("parameters", tiny_folder(private_models, "albert"))
    at.button(key="mech_preset_loaded").click().run()
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(c.value for c in at.caption)
    assert "3 layers share their weights: they run one block's maps, stored once" in said, said


@pytest.mark.parametrize("page", ["patterns", "text_view", "inside_head", "experiments", "head_finder"])
def test_a_windowed_layers_header_names_its_window_not_no_mask(private_models, page) -> None:
    """Longformer reads 4 keys either way in every layer (the tiny one): the pages' headers said "no mask
    (bidirectional)" for it, as for an encoder that reads every key; a causal model with a window (Gemma 2's sliding
    layers) says its window beside its causal mask."""
    folder = tiny_folder(private_models, "longformer")
    at = opened_with(page, folder, layer="1", head="0")
    assert not at.exception, [e.value for e in at.exception]
    said = " ".join(c.value for c in at.caption)
    assert "keys within 4 tokens either way" in said and "no mask (bidirectional)" not in said, said


def test_a_causal_layers_header_names_its_sliding_window(gemma2) -> None:
    at = opened_with("patterns", gemma2, layer="0", head="0")  # tiny Gemma 2: layer 0 slides, layer 1 is global
    said = " ".join(c.value for c in at.caption)
    assert "causal mask on, sliding window of 8 tokens" in said, said
    at = opened_with("patterns", gemma2, layer="1", head="0")
    said = " ".join(c.value for c in at.caption)
    assert "causal mask on ·" in said and "sliding window" not in said.split("causal mask on")[1][:30], said


def test_the_head_finders_header_counts_the_windowed_layers(gemma2) -> None:
    """The head finder ranks every layer's heads: its header says how many layers slide (tiny Gemma 2: 1 of 2)."""
    at = opened_with("head_finder", gemma2)
    said = " ".join(c.value for c in at.caption)
    assert "causal mask on, sliding windows in 1 of 2 layers" in said, said
