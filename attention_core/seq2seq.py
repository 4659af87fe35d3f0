"""Encoder-decoders: one source text, one target text, and three kinds of attention.

    trace = model.trace_pair("The cat sleeps.", "Le chat dort.")
    trace.encoder            a Trace over the source (bidirectional self-attention)
    trace.decoder            a Trace over the target (causal self-attention); .logits predicts each next token
    trace.cross.pattern(l, h)  [n_target, n_source]: decoder queries over encoder keys, no mask

Marian's and BART's decoders are post-norm, T5's, mBART's and Pegasus's pre-norm (a norm before each sublayer,
the cross-attention's too); the decoder's config says which (`norm_position`). T5's decoder self-attention adds
its own stack's position bias (causal buckets); cross-attention has none in any of them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from . import blocks, embeddings
from . import model as fwd
from .context import PassContext
from .device import host_float, to_host
from .disentangled import layer_position_bias
from .linear import project_heads
from .tokenizer import Encoding
from .trace import Trace, captured_nbytes

Weights = Mapping[str, torch.Tensor]


@dataclass(frozen=True, eq=False)
class DecoderView:
    """The decoder of an encoder-decoder: its self-attention and MLP as a Trace reads them (`context`),
    and its cross-attention weights under the usual attention names (`blocks.{l}.attn.*`)."""

    context: PassContext
    cross_weights: Weights


def decoder_view(model: PassContext) -> DecoderView:
    """The decoder's config and weights, split out of the whole encoder-decoder's context."""
    cfg = model.config
    # The decoder reads every earlier key (LED's window is its encoder's) or its own window (T5Gemma's sliding layers,
    # as the encoder's), at positions up to its own table's.
    dec_cfg = dataclasses.replace(
        cfg, arch=f"{cfg.arch}-decoder", n_layers=cfg.n_decoder_layers, causal=True,
        n_ctx=cfg.decoder_positions, decoder_n_ctx=0, sliding_window=cfg.decoder_sliding_window,
        decoder_sliding_window=None, sliding_layers=cfg.sliding_layers if cfg.decoder_sliding_window else (),
    )  # fmt: skip
    weights = {k: v for k, v in model.weights.items() if k.startswith(("embed.", "unembed."))}
    # The decoder's own parts, BART's position table and embedding norm among them, over the shared ones.
    weights.update({k[len("dec.") :]: v for k, v in model.weights.items() if k.startswith("dec.")})
    # Under the attention names, so the shared attention helpers find them.
    cross = {key.replace(".cross.", ".attn."): value for key, value in weights.items() if ".cross." in key}
    context = PassContext(
        name=model.name,
        key=f"{model.key}#decoder",  # its traces differ from the encoder's for the same text
        config=dec_cfg,
        weights=weights,
        pass_weights=weights,  # the decoder's pass reads the canonical weights (nothing fused or packed)
        tokenizer=model.tokenizer,
        device=model.device,
        dtype=model.dtype,
    )
    return DecoderView(context, cross)


# ── the decoder's pass: self-attention, then cross-attention over the encoder ─────────────────────


@dataclass
class CapturedDecoder(fwd.Captured):
    """The decoder's self-attention (as Captured) plus its cross-attention over the encoder."""

    cross_q: list[torch.Tensor]  # (n_heads, n_target, d_head), from the decoder
    cross_k: list[torch.Tensor]  # (n_heads, n_source, d_head), from the encoder's output
    cross_v: list[torch.Tensor]  # (n_heads, n_source, d_head)
    resid_cross: list[torch.Tensor]  # (n_target, d_model): residual after self-attention, entering cross-attention


def encoder_output(resid_final: torch.Tensor, w: Weights, cfg: fwd.ModelConfig) -> torch.Tensor:
    """What the decoder's cross-attention reads: the encoder's final residual, through the encoder's final
    norm where it has one (T5: `ln_final`); Marian's post-norm encoder has none."""
    return blocks.normalize(resid_final, w, "ln_final", cfg) if "ln_final.w" in w else resid_final


def cross_options(cfg: fwd.ModelConfig) -> fwd.AttnOptions:
    """Cross-attention's options: the model's scale on q·k (T5: none) and soft-cap (T5Gemma's), and no mask, window
    or position bias."""
    return fwd.AttnOptions(scale=cfg.attn_scale, softcap=cfg.attn_softcap)


def after_cross(mid: torch.Tensor, cross: torch.Tensor, w: Weights, layer: int, cfg: fwd.ModelConfig) -> torch.Tensor:
    """The residual after cross-attention: mid + cross (pre-norm: T5, mBART), normalised after the add (post-norm:
    Marian, BART), or mid + its own norm of cross (sandwich: T5Gemma's ln_cross_out)."""
    if cfg.norm_position == "post":
        return blocks.normalize(mid + cross, w, f"blocks.{layer}.ln_cross", cfg)
    if cfg.norm_position == "sandwich":
        return mid + blocks.normalize(cross, w, f"blocks.{layer}.ln_cross_out", cfg)
    return mid + cross


def run_decoder(
    ids: torch.Tensor, enc_out: torch.Tensor, dw: Weights, cw: Weights, shared: Weights, cfg: fwd.ModelConfig
) -> CapturedDecoder:
    """The decoder: causal self-attention, then cross-attention (queries from the target, keys and values
    from the encoder's output, no mask), then the MLP; post-norm (Marian) or pre-norm (T5), as cfg says.
    `dw` holds the decoder's self-attention and MLP under the usual block names, `cw` its cross-attention
    under `blocks.{l}.attn.*`."""
    cap = CapturedDecoder(resid_pre=[], q=[], k=[], v=[], cross_q=[], cross_k=[], cross_v=[], resid_cross=[])
    x = embeddings.embed(ids, shared, cfg)  # (n_target, d_model)
    n = ids.shape[0]
    bias = blocks.stack_position_bias(dw, cfg, n, n)  # (n_heads, n_target, n_target) or None
    ropes = blocks.layer_ropes(n, cfg, ids.device)  # T5Gemma's decoder rotates; None per layer elsewhere
    for layer in range(cfg.n_layers):
        cap.resid_pre.append(x)
        # q: (n_heads, n_target, d_head); k, v: (n_kv_heads, n_target, d_head)
        q, k, v = blocks.qkv(blocks.attention_input(x, dw, layer, cfg), dw, layer, cfg, ropes[layer])
        cap.q.append(q)
        cap.k.append(k)
        cap.v.append(v)
        opts = fwd.AttnOptions.of(cfg, layer, layer_position_bias(bias, dw, cfg, layer, q, k))
        attn = fwd.attn_output(fwd.attend(q, k, v, True, opts), dw, layer)  # (n_target, d_model)
        mid = blocks.after_attention(x, attn, dw, layer, cfg)  # (n_target, d_model)
        cap.resid_cross.append(mid)
        cross_in = blocks.normalize(mid, dw, f"blocks.{layer}.ln_cross", cfg) if cfg.norm_position != "post" else mid
        p = f"blocks.{layer}.attn."
        cq = project_heads(cross_in, cw[p + "W_Q"], cw.get(p + "b_Q"), cfg.n_heads)  # (n_heads, n_target, d_head)
        ck = project_heads(enc_out, cw[p + "W_K"], cw.get(p + "b_K"), cfg.n_kv_heads)  # (n_kv_heads, n_source, d_head)
        cv = project_heads(enc_out, cw[p + "W_V"], cw.get(p + "b_V"), cfg.n_kv_heads)  # (n_kv_heads, n_source, d_head)
        cap.cross_q.append(cq)
        cap.cross_k.append(ck)
        cap.cross_v.append(cv)
        cross = fwd.attn_output(fwd.attend(cq, ck, cv, False, cross_options(cfg)), cw, layer)  # (n_target, d_model)
        mid = after_cross(mid, cross, dw, layer, cfg)  # (n_target, d_model)
        x = blocks.after_mlp(mid, dw, layer, cfg)  # (n_target, d_model)
    cap.resid_pre.append(x)
    return cap


def decoder_trace(
    view: DecoderView, enc_out: torch.Tensor, target: str, tgt: Encoding, start: int | None = None
) -> Trace:
    """The decoder's Trace over `target` (tokenised as `tgt`), read after the start token (teacher forcing; `start`
    where it is not the config's): query i predicts target token i + 1."""
    cfg = view.context.config
    start = cfg.decoder_start_token_id or 0 if start is None else start
    ids = torch.tensor([start, *tgt.ids], dtype=torch.long, device=enc_out.device)  # (n_target,)
    dw = view.context.pass_weights
    with torch.inference_mode():
        captured = run_decoder(ids, enc_out, dw, view.cross_weights, dw, cfg)
    return Trace(
        context=view.context,
        text=target,
        token_ids=ids.tolist(),
        tokens=[view.context.tokenizer.decode_token(start), *tgt.tokens],
        offsets=[(0, 0), *tgt.offsets],
        causal=True,
        truncated=tgt.truncated,
        n_input_tokens=tgt.n_input_tokens + 1,
        captured=captured,
    )


@dataclass(frozen=True)
class GreedyTarget:
    """The decoder's own target for a source (`Model.greedy_target`)."""

    token_ids: tuple[int, ...]  # the tokens it wrote, after the start token; the last is EOS when finished
    text: str  # their text, special tokens left out
    finished: bool  # whether it wrote the end-of-sequence token within the budget


def end_ids(cfg: fwd.ModelConfig) -> set[int]:
    """The end-of-sequence token ids config.json names (one, a list, or none)."""
    eos = cfg.eos_token_id
    return set() if eos is None else {int(e) for e in eos} if isinstance(eos, list) else {int(eos)}


def greedy_target(
    view: DecoderView, enc_out: torch.Tensor, max_new_tokens: int, first_token: int | None = None
) -> GreedyTarget:
    """The target the decoder writes itself: at each step its most likely next token (argmax), the whole target so
    far read again (no cache: targets are short), until an end-of-sequence token or `max_new_tokens`. As
    transformers' greedy `generate` does, a config's forced first token (BART's `forced_bos_token_id`) is written
    first; `first_token` (a target language: NLLB's, mBART-50's) in its place where given. The start token is never
    written unless it is EOS or BOS (T5Gemma starts from its BOS, which transformers lets it write): T5's, Marian's and
    Pegasus's is their padding (which Marian's generation config bans)."""
    cfg, dw = view.context.config, view.context.pass_weights
    start, ends = cfg.decoder_start_token_id or 0, end_ids(cfg)
    forced = cfg.forced_bos_token_id if first_token is None else first_token
    ids = [start]
    with torch.inference_mode():
        while len(ids) <= max_new_tokens and not (len(ids) > 1 and ids[-1] in ends):
            if len(ids) == 1 and forced is not None:
                ids.append(int(forced))
                continue
            x = torch.tensor(ids, dtype=torch.long, device=enc_out.device)  # (n_written + 1,)
            captured = run_decoder(x, enc_out, dw, view.cross_weights, dw, cfg)
            logits = fwd.unembed(captured.resid_pre[-1][-1:], dw, cfg)[0]  # (d_vocab,) after the last token
            if start not in ends and start != cfg.bos_token_id:  # a padding start (T5, Marian, Pegasus)
                logits[start] = -math.inf
            ids.append(int(logits.argmax()))
    written = tuple(ids[1:])
    text = view.context.tokenizer.tokenizer.decode(list(written), skip_special_tokens=True)
    return GreedyTarget(written, text, bool(written) and written[-1] in ends)


# ── what the user reads ───────────────────────────────────────────────────────────────────────────


@dataclass
class CrossAttention:
    """Decoder queries over encoder keys in every decoder layer; nothing is masked."""

    view: DecoderView
    captured: CapturedDecoder

    @property
    def n_layers(self) -> int:
        return self.view.context.config.n_layers

    @property
    def _opts(self) -> fwd.AttnOptions:
        return cross_options(self.view.context.config)

    def scores(self, layer: int, head: int) -> torch.Tensor:
        """[n_target, n_source] q·k times the model's scale (1/√d_head; T5: 1), soft-capped where the model caps;
        no position bias. A query head reads its key/value head's keys (T5Gemma's grouped-query cross-attention)."""
        kv = self.view.context.config.kv_head(head)
        q, k = self.captured.cross_q[layer][head], self.captured.cross_k[layer][kv]
        return to_host(fwd.layer_scores(q, k, self._opts))  # (n_target, n_source)

    def pattern(self, layer: int, head: int) -> torch.Tensor:
        """[n_target, n_source]; each target query's row sums to 1 over the source."""
        return fwd.attention_pattern(self.scores(layer, head), None)

    def layer_patterns(self, layer: int) -> torch.Tensor:
        """[n_heads, n_target, n_source]."""
        q, k = self.captured.cross_q[layer], self.captured.cross_k[layer]  # (n_heads | n_kv_heads, n, d_head)
        k = k.repeat_interleave(q.shape[0] // k.shape[0], dim=0)  # (n_heads, n_source, d_head)
        return to_host(fwd.attention_pattern(fwd.layer_scores(q, k, self._opts), None))

    def z(self, layer: int) -> torch.Tensor:
        """[n_heads, n_target, d_head]."""
        c = self.captured
        return host_float(fwd.attend(c.cross_q[layer], c.cross_k[layer], c.cross_v[layer], False, self._opts))

    def attn_out(self, layer: int) -> torch.Tensor:
        """[n_target, d_model] what cross-attention adds to the decoder's residual stream."""
        c = self.captured
        z = fwd.attend(c.cross_q[layer], c.cross_k[layer], c.cross_v[layer], False, self._opts)
        return host_float(fwd.attn_output(z, self.view.cross_weights, layer))


@dataclass
class PairTrace:
    source: str
    target: str
    encoder: Trace
    decoder: Trace
    cross: CrossAttention

    @property
    def source_tokens(self) -> list[str]:
        return self.encoder.tokens

    @property
    def target_tokens(self) -> list[str]:
        """The decoder's inputs: the start token, then the target's tokens (query i predicts token i + 1)."""
        return self.decoder.tokens

    @property
    def logits(self) -> torch.Tensor | None:
        return self.decoder.logits

    def nbytes(self) -> int:
        """Bytes the pair holds: the encoder's and decoder's traces (whose captures include the
        cross-attention's q, k, v and residuals) and their cached logits."""
        return self.encoder.nbytes() + captured_nbytes(self.decoder.captured, self.decoder._logits)
