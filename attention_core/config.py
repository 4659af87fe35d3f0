"""One frozen description of a model's shapes and conventions, shared by every source format."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Literal

from .config_check import settle
from .mixer_words import MIXER_PHRASES, MIXER_WORDS  # a hybrid's mixers in words (config.MIXER_WORDS, as before)

# The encoders we load, and every encoder-decoder's encoder: no next-token head (a masked LM's predicts in place).
ENCODER_ARCHS = (
    "bert", "mpnet", "modernbert", "deberta", "deberta_v2", "marian", "t5", "gemma3_embedding", "bart", "mbart",
    "pegasus", "eurobert", "ultrabert", "nomic_bert", "gte", "jina_v3", "t5_encoder", "m2m_100",
    "plbart", "blenderbot", "roberta-prelayernorm", "xlm-roberta-xl", "ernie", "rembert",
    "longformer", "roformer", "albert", "big_bird", "led", "bigbird_pegasus", "t5gemma", "esm", "esmc", "megatron-bert",
)  # fmt: skip

REPLACED_LABELS = ("original", "replaced")  # ELECTRA discriminator's tag_labels: its one logit z read as (0, z)


@dataclass(frozen=True)
class ModelConfig:
    name: str
    arch: Literal[
        "llama", "bert", "mpnet", "gpt2", "marian", "marian-decoder", "qwen3", "gemma", "gemma2", "gemma3", "phi3",
        "olmo2", "neox", "phi", "stablelm", "starcoder2", "smollm3", "mixtral", "qwen2_moe", "qwen3_moe", "olmoe",
        "bloom", "falcon", "gpt_neo", "gptj", "opt", "gpt_bigcode", "granite", "granitemoe", "cohere", "cohere2",
        "modernbert", "nemotron", "t5", "t5-decoder", "olmo", "olmo3", "exaone4", "glm", "glm4", "helium", "rembert",
        "ernie4_5", "seed_oss", "arcee", "ministral", "ministral3", "mistral3", "hunyuan_dense", "apertus", "qwen2_vl",
        "qwen3_vl", "gpt_oss", "gemma3_embedding", "bart", "bart-decoder", "mbart", "mbart-decoder", "pegasus",
        "pegasus-decoder", "deberta_v2", "deepseek_v2", "deepseek_v3", "minicpm3", "glm4_moe", "glm4_moe_lite", "dots1",
        "llama4", "nanochat", "minimax_m2", "qwen3_vl_moe", "vaultgemma", "ernie4_5_moe", "flex_olmo", "solar_open",
        "exaone_moe", "hunyuan_moe", "deepseek_v32", "youtu", "mistral4", "cohere2_moe", "jais2", "phimoe",
        "granite_swa", "granitemoe_swa", "eurobert", "cwm", "hyperclovax", "mellum", "modernbert_decoder", "minicpm",
        "hy_v3", "flint", "ultrabert", "afmoe", "kolibri1", "nomic_bert", "gte", "jina_v3", "glm_moe_dsa", "openai_gpt",
        "codegen", "t5_encoder", "m2m_100", "m2m_100-decoder", "xglm", "plbart", "plbart-decoder", "blenderbot",
        "blenderbot-decoder", "mpt", "exaone", "internlm2", "roberta-prelayernorm", "xlm-roberta-xl", "persimmon",
        "ernie", "longformer", "roformer", "albert", "big_bird", "led", "led-decoder", "bigbird_pegasus",
        "bigbird_pegasus-decoder", "mllama", "t5gemma", "t5gemma-decoder", "granitemoehybrid", "lfm2", "lfm2_moe",
        "lfm3", "qwen3_5_text", "qwen3_5_moe_text", "qwen3_next", "bamba", "nemotron_h", "esm", "esmc", "megatron-bert",
        "olmo_hybrid", "falcon_h1", "jamba", "kimi_linear", "recurrent_gemma", "axk1", "mimo_v2_flash", "dbrx",
    ]
    n_layers: int
    n_heads: int
    n_kv_heads: int  # < n_heads means grouped-query attention: n_heads // n_kv_heads queries share a key/value head
    d_model: int
    d_head: int  # a query's and a key's width (multi-head latent attention: its unrotated and rotated parts)
    d_mlp: int
    d_vocab: int
    n_ctx: int  # positions the model was trained for
    causal: bool  # the model's own masking
    norm: Literal["rms", "layer"]
    norm_eps: float
    # "pre": llama normalises a block's input; "post": BERT normalises after each residual add; "sandwich"
    # (Gemma 2/3): pre-norm plus a norm on each sublayer's output before its add (ln_attn_out, ln_mlp_out);
    # "post_sublayer" (OLMo 2): no input norm, x + norm(sublayer(x)) with ln_attn_out and ln_mlp_out.
    norm_position: Literal["pre", "post", "sandwich", "post_sublayer"]
    act: Literal["silu", "gelu", "gelu_tanh", "relu", "relu2", "xielu", "swiglu_clamped"]
    gated_mlp: bool  # SwiGLU / GeGLU: act(x W_gate) * (x W_in), act from `act`
    uses_rope: bool
    rope_theta: float | None = None
    n_token_types: int = 0  # BERT's segment embeddings
    pos_offset: int = 0  # RoBERTa numbers positions from padding_idx + 1
    sliding_window: int | None = None  # Mistral: a query sees at most this many keys (itself included); an encoder
    # (ModernBERT's local layers): keys with |query − key| < sliding_window, both ways
    embed_scale: float = 1.0  # Marian multiplies token embeddings by √d_model
    token_dropout_id: int | None = None  # ESM: <mask>'s id, its embedding zeroed, the rest scaled (embeddings.py)
    # embeddings narrower than the layers, projected up by embed.W_proj (embed.b_proj): ELECTRA-small projects after
    # the embedding LayerNorm, DeBERTa before it
    embed_proj_after_norm: bool = False
    embed_norm: bool = False  # a norm on the embeddings, with no weight of its own (NanoChat; BERT's has embed.ln.w)
    n_decoder_layers: int = 0  # > 0 for encoder-decoders; n_layers then counts the encoder's layers
    decoder_start_token_id: int | None = None
    decoder_n_ctx: int = 0  # an encoder-decoder's decoder positions where they differ from its encoder's n_ctx (LED's
    # fewer; BigBird-Pegasus's sources capped below them); 0 = n_ctx
    decoder_sliding_window: int | None = None  # an encoder-decoder's decoder window on its sliding layers (T5Gemma's,
    # causal; sliding_window is then the encoder's, both ways); None: its decoder reads every earlier key
    forced_bos_token_id: int | None = None  # BART: the decoder's first written token, whatever it predicts
    attn_bias: bool = False
    mlp_bias: bool = False
    tie_embeddings: bool = False
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    display_name: str = ""
    # ── declared attention features: the forward pass branches on these, never on `arch` ─────────────
    qk_norm: Literal["none", "head", "full"] = "none"  # RMSNorm on q and k before RoPE: per head (Qwen3,
    # Gemma 3; weights attn.q_norm.w / attn.k_norm.w of [d_head]) or over the whole projection (OLMo 2)
    qk_norm_after_rope: bool = False  # the per-head q/k RMSNorm comes after RoPE instead (Hunyuan)
    qk_norm_layers: tuple[bool, ...] = ()  # which layers have the q/k norm; () = every one (Llama 4: those that rotate)
    qk_norm_weights: bool = True  # False: the q/k norm has no learned weight (Llama 4's L2 norm: x / rms(x))
    attn_scale: float | None = None  # the factor on q·k; None = 1/√d_head (Gemma: query_pre_attn_scalar^-0.5)
    attn_softcap: float | None = None  # scores → cap·tanh(scores/cap) before the mask (Gemma 2)
    qkv_clip: float | None = None  # q, k, v clamped to ±clip after their maps (and OLMoE's q/k norm): OLMo, DBRX
    # GPT-OSS: a learned logit per head (weights attn.sinks, [n_heads]) joins each row's softmax as a key without a
    # value, so a row of the pattern sums to 1 − the sink's share (model.softmax_keys)
    attn_sinks: bool = False
    # AFMoE (Arcee Trinity): each head's z multiplied, per dimension, by σ(E·W_G + b_G) before W_O (weights attn.W_G,
    # [d_model, n_heads·d_head_v]): a gate the token at each query position sets for every head (blocks.output_gate)
    attn_output_gate: bool = False
    attn_gate_per_head: bool = False  # LFM3: one gate a head and query (attn.W_G [d_model, n_heads]), on each dimension
    final_softcap: float | None = None  # logits → cap·tanh(logits/cap) (Gemma 2)
    sliding_layers: tuple[bool, ...] = ()  # which layers use sliding_window; () = every layer (Mistral)
    rope_theta_local: float | None = None  # RoPE base of the sliding-window layers (Gemma 3)
    rope_thetas: tuple[float, ...] = ()  # each layer's own RoPE base (Granite SWA's layer_rope_theta); (): as above
    # RoPE scaling, as llama.cpp stores it: one divisor per frequency ((rotary_dim or d_head) / 2 of them), so
    # frequency i is θ^(-2i/r) / divisors[i]. "linear" divides every frequency (≡ positions) by its factor;
    # "llama3" divides the low frequencies by its factor, leaves the high ones, interpolates between. () = none.
    # Applies to the layers at rope_theta (Gemma 3's sliding layers keep their own base unscaled). A divisor of inf
    # makes a frequency 0, so its pair does not turn: proportional RoPE (LFM3's full layers) rotates only the first
    # pairs of a whole head at θ^(-2i/d_head), the rest not at all.
    rope_freq_divisors: tuple[float, ...] = ()
    rope_scaling: str | None = None  # what the divisors came from, in words ("llama3, factor 8"), for the sidebar
    rope_attention_factor: float = 1.0  # LongRoPE: cos and sin × this where the divisors apply (q and k's rotated dims)
    rotary_dim: int | None = None  # partial rotary: only the first rotary_dim dims of a head rotate (Pythia)
    # GPT-J, Cohere: the model rotates neighbouring pairs (0, 1), (2, 3), …; the converter listed each head's rotated
    # W_Q/W_K columns even ones first (loading/conventions.neighbours_to_halves), so q and k show in that order
    rope_pairs_reordered: bool = False
    rope_reversed: bool = False  # RoPE turns each pair the other way, by −position·θ (NanoChat's rotate_half)
    rope_layers: tuple[bool, ...] = ()  # which layers rotate q and k; () = every one. SmolLM3: every 4th does not
    parallel_blocks: bool = False  # x + attn(ln_attn(x)) + mlp(ln_mlp(x)) (GPT-NeoX use_parallel_residual)
    n_experts: int = 0  # a mixture of experts in each layer with a router (Mixtral, Qwen3-MoE); 0 = none
    experts_per_token: int = 0  # how many experts each token's MLP output sums
    moe_renormalize: bool = True  # the chosen experts' probabilities renormalised to sum to 1 (Mixtral)
    shared_block_norm: bool = False  # parallel blocks with one norm, x + attn(ln_attn(x)) + mlp(ln_attn(x)) (Phi)
    norm_weights: bool = True  # False: every norm plain, without a learned weight or bias (OLMo 1's LayerNorm)
    xielu: tuple[float, float] = (0.5, -1e-6)  # act "xielu" (Apertus): its constants (beta, eps); see activations.py
    swiglu_clamp: tuple[float, float] = (7.0, 1.702)  # act "swiglu_clamped" (GPT-OSS): (limit, alpha)
    skip_first_attn_norm: bool = False  # ModernBERT: layer 0's attention reads the (normalised) embeddings as they are
    # T5's relative position bias: a learned (rel_buckets, n_heads) table per stack (blocks.0.attn.rel_bias and
    # dec.blocks.0.attn.rel_bias, read by every layer of the stack) indexed by the bucket of key − query, added after
    # q·k·scale, before the mask; buckets bidirectional in a stack that reads both ways (an encoder), else causal.
    # alibi (BLOOM): slope_h × key position, no weights; disentangled (DeBERTa): attention_core/disentangled.py
    position_bias: Literal["none", "t5", "alibi", "disentangled"] = "none"
    # MPT's ALiBi: slopes 2^(−k·max/m) for k = 1..m (m the next power of two ≥ n_heads; odd ones first where
    # m > n_heads), added as slope × (key − last key); None: BLOOM's slopes, × the key's position
    alibi_bias_max: float | None = None
    alibi_scaled: bool = False  # Falcon-RW adds ALiBi to q·k before the scale, so the bias is scaled with it
    rel_buckets: int = 0
    rel_max_distance: int = 0
    position_table_too: bool = False  # MPNet: absolute position embeddings beside its relative position bias
    rel_bias_per_layer: bool = False  # umT5: every layer its own table (blocks.{l}.attn.rel_bias), not the stack's
    unembed_scale: float = 1.0  # the final residual's factor before the unembedding (T5 tied: d_model^-0.5)
    # A prediction head between the final norm and W_U (ModernBERT decoder, an encoder's masked-language-model head):
    # LayerNorm(act(x·W_head + b_head)), weights unembed.W_head [d_model, d_out], unembed.b_head (where the model has
    # it) and unembed.ln; None: the final norm's output goes straight to W_U.
    head_act: str | None = None
    # An encoder whose masked-language-model head was read (loading/masked_lm.py, head_act its activation): it has
    # logits, and those at a position are its guess for the token at that position, not for the next one.
    masked_lm: bool = False
    # A sequence classifier's head (loading/classifier_head.py): its labels, its pooler's activation (a tagger's head's
    # too), how its logits read ("softmax"; "sigmoid": each label alone; "regression"), what it reads ("decoder_eos":
    # BART's decoder at the last </s>, seq2seq_classify.py).
    class_labels: tuple[str, ...] = ()
    class_pool_act: str = "tanh"
    class_problem: str = "softmax"
    class_pool: Literal["first", "mean", "last", "decoder_eos"] = "first"  # the first, the mean (ModernBERT), or a
    class_pad_id: int | None = None  # decoder's last token not this one (config.json's pad_token_id; None: the last)
    tag_labels: tuple[str, ...] = ()  # a token classifier's (a tagger's) labels: one per position, from its embedding
    answer_head: bool = False  # an extractive question-answering head: each token's start and end logits (classify.py)
    # Granite multiplies each sublayer's output by this before its residual add. The converters fold it into W_O,
    # b_O, W_out and b_out (so every per-head Δe is what the model adds), or into the norms on the sublayers'
    # outputs where the model has them (HyperCLOVA X); the pass never applies it again.
    residual_scale: float = 1.0
    # Multi-head latent attention (DeepSeek-V2/V3, MiniCPM3; attention_core/latent.py): keys and values come up from
    # one shared latent of kv_latent_rank numbers per token (0 = ordinary attention), queries from one of
    # q_latent_rank (0 = straight from the residual); each head's q and k end in rotary_dim dimensions that rotate
    # (RoPE), the key's shared by every head; values are d_head_v wide
    kv_latent_rank: int = 0
    q_latent_rank: int = 0
    d_head_v: int = 0  # a value's (and z's) width; 0 = d_head
    # DeepSeek's router (MoE): "sigmoid" scores (V3) rather than the softmax, chosen with a correction bias where the
    # layer has one (mlp.router.b_choice; ERNIE 4.5 MoE adds one to its softmax); moe_groups (groups, kept): experts
    # in groups, a token choosing only within its best groups; moe_scale multiplies the chosen weights
    # (routed_scaling_factor)
    moe_router: Literal["softmax", "sigmoid", "sigmoid_logits", "sparsemixer"] = "softmax"  # experts.route
    moe_mixer_eps: float = 0.0  # "sparsemixer" (Phi-3.5-MoE): the jitter ε of its threshold (router_jitter_noise)
    moe_groups: tuple[int, int] = (1, 1)
    moe_scale: float = 1.0
    moe_scales_input: bool = False  # Llama 4: an expert's weight multiplies its input, not its output
    # ALBERT: the stored block whose weights each layer reads (layer i reads `blocks.{layer_weights[i]}.*`, several
    # layers one block); () = every layer its own. attention_core/shared_layers.py resolves the names.
    layer_weights: tuple[int, ...] = ()
    # Hybrids: what mixes tokens in each layer, "attention", "short_conv" (LFM2's gated causal convolution over the last
    # conv_kernel tokens: short_conv.py), "gated_delta", "ssm" or "selective_scan" (below; the last Jamba's Mamba,
    # selective_scan.py); () = attention in every layer; "none" (Nemotron-H): no mixing, the block an MLP alone.
    # A layer without attention has no heads: no q, k, v or pattern, and the views keep to `attention_layers`.
    mixers: tuple[str, ...] = ()
    mlp_layers: tuple[bool, ...] = ()  # which layers have an MLP; () = every one (Nemotron-H: a mixer or an MLP)
    # each layer's own norm_position where layers differ (OLMo Hybrid: delta-rule layers pre, attention ones OLMo 3's
    # post_sublayer; A.X K1's "pre_mlp_out": pre-norm, its MoE's output normed, ln_mlp_out); () = norm_position
    norm_positions: tuple[str, ...] = ()
    kv_heads_layers: tuple[int, ...] = ()  # layers' own key/value heads (MiMo-V2-Flash), repeated to n_kv_heads in qkv
    conv_kernel: int = 0
    # "gated_delta" layers (Qwen3.5's: delta_net.py): (key heads, value heads) and (key width, value width) per head
    delta_heads: tuple[int, int] = (0, 0)
    delta_dims: tuple[int, int] = (0, 0)
    delta_beta_scale: float = 1.0  # β = scale · σ(E·W_b): OLMo Hybrid's 2 lets the rule's eigenvalues go negative
    delta_norm_eps: float | None = None  # the rule's gated norm's ε where it is not norm_eps (OLMo Hybrid: 1e-5)
    delta_gate: Literal["silu", "sigmoid"] = "silu"  # the rule's output gate: SiLU(E·W_z), or Kimi's σ(E·W_ga·W_gb)
    # "ssm" layers (Mamba-2: mamba.py): (heads, channels a head, state size, groups of heads), the clamp on each Δ
    ssm_shape: tuple[int, int, int, int] = (0, 0, 0, 0)
    ssm_dt_limit: tuple[float, float] = (0.0, float("inf"))
    selective_shape: tuple[int, int, int] = (0, 0, 0)  # "selective_scan" layers (Jamba): channels, state, Δ rank
    # Mamba-2's gated RMSNorm (per group of heads): over y ⊙ SiLU(z) ("after_gate": Granite 4, Bamba, Nemotron-H), over
    # y, then ⊙ SiLU(z) ("before_gate"), or none at all, y ⊙ SiLU(z) ("none"): Falcon-H1's mamba_rms_norm and
    # mamba_norm_before_gate
    ssm_norm: Literal["after_gate", "before_gate", "none"] = "after_gate"
    # Falcon-H1: every attention layer also runs a Mamba-2 scan (the "ssm" fields, weights blocks.{l}.ssm.*) on the
    # same normalised input, its output added beside the attention's (mixers.beside_attention). The attention's own
    # output (Trace.attn_out) stays Σ heads + b_O; resid_mid holds both.
    ssm_beside_attention: bool = False
    # factors the model multiplies activations by, folded into the weights at load (Falcon-H1's µP multipliers,
    # MiMo-V2-Flash's value scale: name → factor), kept so the sidebar can list them
    folded_multipliers: tuple[tuple[str, float], ...] = ()
    # What the user should know about how the file was read (a GGUF split we do not know); the sidebar shows each.
    conversion_notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.causal and self.arch not in ENCODER_ARCHS:  # has_lm_head would take it for a decoder
            raise ValueError(f"{self.arch} reads both ways: list it in ENCODER_ARCHS, as every encoder is.")
        settle(self)  # tuples from JSON's lists, and every number of its declared kind and in range (config_check.py)

    @property
    def own_position_projections(self) -> bool:
        """DeBERTa v1 projects its position table by each layer's own W_pos_Q and W_pos_K, v2 and v3 by W_Q and W_K."""
        return self.arch == "deberta"

    @property
    def has_lm_head(self) -> bool:
        """Whether the model has logits: decoders (the next token; not one with a classifier's head in its place) and
        encoders loaded with their masked-language-model head (the token at each position, `masked_lm`)."""
        return (self.arch not in ENCODER_ARCHS and not self.class_labels and not self.tag_labels) or self.masked_lm

    @property
    def predicts_next_token(self) -> bool:
        """Whether the logits at a position predict the token after it (decoders) rather than the token there."""
        return self.arch not in ENCODER_ARCHS

    def window(self, layer: int) -> int | None:
        """The sliding window of `layer` (a query sees at most this many keys, itself included; without the causal
        mask, keys with |query − key| < window), or None."""
        if self.sliding_window is None:
            return None
        if not self.sliding_layers or self.sliding_layers[layer]:
            return self.sliding_window
        return None

    def attends(self, layer: int) -> bool:
        """Whether `layer` mixes tokens by attention (every layer but a hybrid's other layers)."""
        return not self.mixers or self.mixers[layer] == "attention"

    def mixes(self, layer: int) -> bool:
        """Whether `layer` mixes tokens at all (not a Nemotron-H layer that is an MLP alone)."""
        return not self.mixers or self.mixers[layer] != "none"

    def scans(self, layer: int) -> bool:
        """Whether `layer` runs a Mamba-2 scan: in place of attention, or beside it (Falcon-H1)."""
        return (self.mixers[layer] == "ssm" if self.mixers else False) or (
            self.ssm_beside_attention and self.attends(layer))

    def norm_at(self, layer: int) -> str:
        """Where `layer`'s norms sit ("pre", "post", "sandwich", "post_sublayer": norm_position's meanings)."""
        return self.norm_positions[layer] if self.norm_positions else self.norm_position

    def has_mlp(self, layer: int) -> bool:
        """Whether `layer`'s block has an MLP (not a Nemotron-H layer that is a mixer alone)."""
        return not self.mlp_layers or self.mlp_layers[layer]

    @property
    def attention_layers(self) -> tuple[int, ...]:
        """The layers with attention heads, in order: every layer, except in a hybrid."""
        return tuple(layer for layer in range(self.n_layers) if self.attends(layer))

    @property
    def hybrid(self) -> bool:
        """Whether some layer mixes tokens by more than attention: a hybrid's other layers, or a scan beside heads."""
        return len(self.attention_layers) < self.n_layers or self.ssm_beside_attention

    def mixer_name(self, layer: int) -> str:
        """What mixes tokens in `layer`, in words for a page ("attention", "short convolution")."""
        if self.ssm_beside_attention and self.attends(layer):
            return "attention and Mamba-2 scan"
        return MIXER_WORDS[self.mixers[layer]] if self.mixers else "attention"

    def mixer_phrase(self, layer: int) -> str:
        """What `layer` runs, for a sentence ("attention", "a short convolution", "an MLP alone (mixing no tokens)")."""
        return MIXER_PHRASES[self.mixers[layer]] if self.mixers and self.mixers[layer] != "attention" else "attention"

    def other_mixers_words(self) -> str:
        """What a hybrid's layers without heads run instead of attention, for a sentence: "a short convolution", "a
        Mamba-2 state-space scan or an MLP alone (mixing no tokens)" (in the order they first come)."""
        kinds = dict.fromkeys(m for m in self.mixers if m != "attention")
        return " or ".join(MIXER_PHRASES[m] for m in kinds)

    def rotates(self, layer: int) -> bool:
        """Whether `layer` rotates its queries and keys (RoPE); a NoPE layer's scores see no position at all."""
        return self.uses_rope and (not self.rope_layers or self.rope_layers[layer])

    def qk_norm_in(self, layer: int) -> str:
        """The q/k norm of `layer` ("none", "head" or "full"): the model's, unless it keeps one to some layers."""
        return self.qk_norm if not self.qk_norm_layers or self.qk_norm_layers[layer] else "none"

    def rope_base(self, layer: int) -> float | None:
        """The RoPE base of `layer`: its own where the model gives one per layer, else rope_theta_local on
        sliding-window layers where the model has one."""
        if self.rope_thetas:
            return self.rope_thetas[layer]
        if self.rope_theta_local is not None and self.window(layer) is not None:
            return self.rope_theta_local
        return self.rope_theta

    def rope_divisors(self, layer: int) -> tuple[float, ...]:
        """The RoPE frequency divisors of `layer` (() = unscaled): none on a layer with its own local base."""
        if self.rope_theta_local is not None and self.window(layer) is not None:
            return ()
        return self.rope_freq_divisors

    @property
    def scale(self) -> float:
        """The factor on q·k in every layer's scores."""
        return self.attn_scale if self.attn_scale is not None else self.d_head**-0.5

    @property
    def has_own_scale(self) -> bool:
        """Whether the model sets its own factor on q·k (Gemma) rather than the usual 1/√d_head."""
        return abs(self.scale * self.d_head**0.5 - 1.0) > 1e-6

    @property
    def scale_multiple(self) -> int | None:
        """k where the factor on q·k is 1/√(k·d_head), k whole in 2..16 (DeBERTa's 3: three terms), else None."""
        if not self.has_own_scale or self.scale <= 0:
            return None
        k = 1.0 / (self.scale**2 * self.d_head)
        return round(k) if 2 <= round(k) <= 16 and abs(k - round(k)) < 1e-4 else None

    def features(self) -> list[str]:
        """Plain words for each feature of its layers this model uses, as the sidebar lists them (config_features)."""
        from .config_features import features

        return features(self)

    @property
    def absolute_positions(self) -> bool:
        """Whether a position embedding is added to each token's embedding (BERT, GPT-2, MPNet: learned; Marian:
        fixed sinusoids), rather than positions entering attention alone (RoPE, T5's relative bias, ALiBi)."""
        return self.position_table_too or (not self.uses_rope and self.position_bias == "none")

    @property
    def d_value(self) -> int:
        """A value's width, and so z's and each head's rows of W_O: d_head unless the model's values differ (MLA)."""
        return self.d_head_v or self.d_head

    @property
    def is_encoder_decoder(self) -> bool:
        return self.n_decoder_layers > 0

    @property
    def attention_sublayers(self) -> int:
        """Attention sublayers in the whole model: one per layer (per attention layer of a hybrid), and two per
        decoder layer of an encoder-decoder (its self- and cross-attention)."""
        return len(self.attention_layers) + 2 * self.n_decoder_layers

    @property
    def decoder_positions(self) -> int:
        """The positions an encoder-decoder's decoder reads: its own where they differ from the encoder's."""
        return self.decoder_n_ctx or self.n_ctx

    @property
    def stored_layers(self) -> int:
        """How many layers' weights the model stores: fewer than n_layers where layers share them (ALBERT)."""
        return max(self.layer_weights) + 1 if self.layer_weights else self.n_layers

    @property
    def group_size(self) -> int:
        """Query heads per key/value head (1 without grouped-query attention)."""
        return self.n_heads // self.n_kv_heads

    def kv_head(self, head: int) -> int:
        """The key/value head that query head `head` reads (consecutive query heads share one, as in HF and SDPA)."""
        return head // self.group_size

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
