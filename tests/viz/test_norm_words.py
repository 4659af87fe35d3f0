"""What a head reads, in words (viz.views.norm_words): true for each norm placement and each embedding recipe."""

from __future__ import annotations

from viz.views.norm_words import HeadInput, first_block_input, head_input_caption


def first(*args: object, **kwargs: object) -> tuple[str, str]:
    return first_block_input(HeadInput(*args, **kwargs))


def caption(layer: int, *args: object, **kwargs: object) -> str:
    return head_input_caption(HeadInput(*args, layer=layer, **kwargs))


def test_the_first_blocks_input_is_named_as_the_model_normalises_it() -> None:
    """Step 2's chart is blocks.attention_input of layer 0: RMSNorm or LayerNorm of the residual (pre-norm and
    sandwich), or the residual itself (post-norm: BERT's is already LayerNorm(token + position + segment);
    Marian's is √d_model·token + position, not normalised; OLMo 2's raw)."""
    title, caption = first("pre", "rms", ("token",))
    assert title == "RMS-normalised" and "root-mean-square" in caption
    title, caption = first("pre", "layer", ("token", "position"))  # GPT-2
    assert title == "LayerNorm(token + position embeddings)" and "standard deviation" in caption
    bert = first("post", "layer", ("token", "position", "segment"), embedding_norm=True)
    assert bert[0] == "LayerNorm(token + position + segment embeddings)"
    marian = first("post", "layer", ("token", "position"), embed_scale=512**0.5, d_model=512)
    assert marian[0] == "√d_model·token + position embeddings" and "LayerNorm" not in marian[0]
    assert "not normalised" in marian[1]
    title, caption = first("post_sublayer", "rms", ("token",))  # OLMo 2
    assert title == "the token embedding itself" and "normalises each sublayer's output" in caption
    assert first("sandwich", "rms", ("token",))[0] == "RMS-normalised"


def test_the_inside_head_caption_names_what_layer_0_reads() -> None:
    """Inside a head's step 1 caption: a pre-norm LayerNorm model (GPT-2) is not 'RMS-normalised'; a sandwich
    model (Gemma) normalises the block's input too; OLMo 2 reads the residual raw; Marian has no embedding norm."""
    gpt2 = caption(5, "pre", "layer", ("token", "position"))
    assert "RMS" not in gpt2 and "LayerNorm" in gpt2 and "layer 5" in gpt2
    assert "RMSNorm" in caption(0, "pre", "rms", ("token",))
    gemma = caption(2, "sandwich", "rms", ("token",))
    assert "RMSNorm" in gemma and "post-norm" not in gemma
    olmo = caption(2, "post_sublayer", "rms", ("token",))
    assert "as it is" in olmo and "post-norm" not in olmo
    bert = caption(1, "post", "layer", ("token", "position", "segment"), embedding_norm=True)
    assert "LayerNorm(token + position + segment embeddings)" in bert
    marian = caption(1, "post", "layer", ("token", "position"), embed_scale=512**0.5, d_model=512)
    assert "√d_model·token + position embeddings" in marian and "segment" not in marian


def test_a_norm_without_learned_weights_is_not_said_to_have_them() -> None:
    """OLMo (1)'s LayerNorms have no weight or bias: step 2 and Inside one head said 'scaled and shifted per
    dimension by learned weights' and 'LayerNorm(x)·w + b'."""
    title, words = first("pre", "layer", ("token",), norm_weights=False)
    assert title == "LayerNorm(token embedding)" and "learned" in words and "no learned" in words
    assert "scaled and shifted per dimension by learned weights" not in words
    said = caption(3, "pre", "layer", ("token",), norm_weights=False)
    assert "·w" not in said and "without learned weights" in said
    assert "·w + b" in caption(3, "pre", "layer", ("token",))  # GPT-2's do have them


def test_a_projection_is_titled_as_the_product_it_draws() -> None:
    """Start here's and Inside one head's Q and K: the bias where the model adds one, the q/k norm where it has one."""
    from viz.views.norm_words import projection_title

    assert projection_title("Q", False, "none", 5, 64, "before") == "Q = E·W_Q  [5 × 64] before RoPE"
    assert projection_title("K", True, "none", 5, 64) == "K = E·W_K + b_K  [5 × 64]"
    assert projection_title("K", True, "head", 5, 64) == "K = RMSNorm(E·W_K + b_K)·w_k  [5 × 64]"
    full = projection_title("Q", False, "full", 5, 64, "before")
    assert full == "Q = RMSNorm(E·W_Q, all heads)·w_q  [5 × 64] before RoPE"
    # OLMo's clip_qkv clamps the map (OLMoE's: after its norm); V's title says so too
    clipped_q = projection_title("Q", True, "none", 5, 64, "before", clip=8.0)
    assert clipped_q == "Q = clip(E·W_Q + b_Q, ±8)  [5 × 64] before RoPE"
    olmoe_k = projection_title("K", False, "full", 5, 64, clip=1.0)
    assert olmoe_k == "K = clip(RMSNorm(E·W_K, all heads)·w_k, ±1)  [5 × 64]"
    from types import SimpleNamespace

    from viz.views.head_window import clipped

    assert clipped("E·W_V", SimpleNamespace(qkv_clip=8.0)) == "clip(E·W_V, ±8)"
    assert clipped("E·W_V", SimpleNamespace(qkv_clip=None)) == "E·W_V"
    # Hunyuan normalises after the rotation: none before it, RMSNorm(RoPE(·)) after
    assert projection_title("Q", False, "head", 5, 64, "before", True) == "Q = E·W_Q  [5 × 64] before RoPE"
    rotated = projection_title("Q", False, "head", 5, 64, "after", True)
    assert rotated == "Q = RMSNorm(RoPE(E·W_Q))·w_q  [5 × 64]"
    # Llama 4's norm after the rotation has no learned weight: no ·w_q, and the caption says so
    weightless = projection_title("Q", False, "head", 5, 64, "after", True, weighted=False)
    assert weightless == "Q = RMSNorm(RoPE(E·W_Q))  [5 × 64]"
    from viz.views.norm_words import qk_norm_caption

    said = qk_norm_caption("head", True, True, weighted=False)
    assert "no learned weight" in said and "q_norm" not in said and "after RoPE" in said
    assert "learned weights (q_norm, k_norm)" in qk_norm_caption("head", True, True)
    # a half-width chart at 1280 px shows ~55 characters of its title (a longer one was cut at both ends)
    assert max(len(t) for t in (full, rotated, projection_title("Q", True, "head", 999, 256, "before"))) <= 55


def test_narrower_embeddings_name_their_projection_where_it_sits() -> None:
    """ELECTRA-small normalises its 128-wide embeddings, then projects them up to the layers; DeBERTa (with
    embedding_size < hidden_size) projects first, then normalises: the first block's input says which."""
    terms = ("token", "position", "segment")
    small = first("post", "layer", terms, embedding_norm=True, d_model=256, embedding_projection="after")
    assert small[0] == "LayerNorm(token + position + segment embeddings)·W_proj"
    assert "up to d_model = 256, after their LayerNorm" in small[1]
    deberta = first("post", "layer", ("token",), embedding_norm=True, d_model=768, embedding_projection="before")
    assert deberta[0] == "LayerNorm((token embedding)·W_proj)" and "before their LayerNorm" in deberta[1]
    assert first("post", "layer", terms, embedding_norm=True)[1] == ""  # BERT: no projection, nothing to add


def test_a_layernorm_over_all_heads_is_named_and_described_as_one():
    """ESM C normalises all heads' queries (keys) by a LayerNorm, as its other norms: the title and the caption say
    so; OLMo 2's RMSNorm over all heads keeps the root-mean-square's words."""
    from viz.views.norm_words import projection_title, qk_norm_caption, qk_norm_name

    assert (qk_norm_name("layer"), qk_norm_name("rms")) == ("LayerNorm", "RMSNorm")
    title = projection_title("Q", False, "full", 9, 16, "before", norm_name=qk_norm_name("layer"))
    assert title.startswith("Q = LayerNorm(E·W_Q, all heads)·w_q")
    assert "centred on their mean" in qk_norm_caption("full", True, norm_name="LayerNorm")
    assert "root-mean-square" in qk_norm_caption("full", True)


def test_a_layernorm_over_each_head_is_named_with_its_weights_and_biases():
    """Phi, StableLM, Command R+ and Persimmon normalise each head's q and k by a LayerNorm (the kind of their other
    norms): the title names it, the caption says it centres, and says whose weights (each head's own: StableLM,
    Command R+) and biases (Phi, Persimmon) follow; Qwen3's per-head RMSNorm keeps its words."""
    from viz.views.norm_words import projection_title, qk_norm_caption

    title = projection_title("K", True, "head", 5, 64, "before", norm_name="LayerNorm")
    assert title == "K = LayerNorm(E·W_K + b_K)·w_k  [5 × 64] before RoPE"
    stablelm = qk_norm_caption("head", True, norm_name="LayerNorm", per_head=True)
    assert "centred on their mean" in stablelm and "each head its own" in stablelm and "bias" not in stablelm
    persimmon = qk_norm_caption("head", True, norm_name="LayerNorm", shifted=True)
    assert "then shifted by learned biases" in persimmon and "each head its own" not in persimmon
    qwen3 = qk_norm_caption("head", True)
    assert "centred" not in qwen3 and "root-mean-square" in qwen3
    assert projection_title("K", False, "head", 5, 64).startswith("K = RMSNorm(E·W_K)·w_k")
