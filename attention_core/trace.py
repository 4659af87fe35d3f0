"""What one forward pass captured, and everything derived from it on request.

The pass keeps O(n·d_model) per layer (residual in, q, k, v). Scores, patterns, z, head outputs and
per-source contributions are recomputed from those with the same functions the pass used, so they are
the numbers the model really computed: scores and patterns by model.attention_scores and
model.attention_pattern, softmax attention written out. Every public tensor is float32 on the CPU.
A trace holds the `PassContext` of the model that made it (config, weights, tokenizer), not the model.
Every tensor has a dotted name too (`trace["blocks.3.attn.pattern"]`), listed in attention_core/dotted_names.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from . import blocks, dotted_names, flow, lens, mixers, recompute, steps, sweep
from . import interventions as iv
from . import model as fwd
from .config import ModelConfig
from .context import PassContext
from .device import host_float, to_host
from .disentangled import layer_position_bias
from .recompute import captured_nbytes, pool_edges
from .steps import HeadSteps
from .tokenizer import Segments

__all__ = ["Trace", "causal_mask", "captured_nbytes", "pool_edges"]


def causal_mask(n_q: int, n_k: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n_q, n_k) bool, True on and below the diagonal: query i may attend to keys 0..i."""
    return torch.ones(n_q, n_k, dtype=torch.bool, device=device).tril()


@dataclass
class Trace:
    context: PassContext = field(repr=False)
    text: str
    token_ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]]
    causal: bool  # the mask every layer of this pass used
    truncated: bool
    n_input_tokens: int
    captured: fwd.Captured = field(repr=False)
    interventions: tuple[iv.Intervention, ...] = ()
    notes: list[str] = field(default_factory=list)  # things the user should be told (e.g. a CPU fallback)
    segments: Segments | None = None  # a text pair's: each token's segment, where the second text starts
    _logits: torch.Tensor | None = field(default=None, repr=False)

    # ── the model that made it ────────────────────────────────────────────────────────────────────
    @property
    def config(self) -> ModelConfig:
        return self.context.config

    @property
    def model_name(self) -> str:
        return self.context.name

    @property
    def model_key(self) -> str:
        """Identifies the weights for caches (see Model.key)."""
        return self.context.key

    @property
    def device(self) -> str:
        """Where the pass ran and its captures live, e.g. "cpu" (an out-of-memory fallback makes it the CPU)."""
        return str(self.context.device)

    @property
    def dtype(self) -> torch.dtype:  # the pass's and its captures' (the weights'); public tensors are float32
        return self.context.dtype

    def decode_token(self, token_id: int) -> str:
        """The readable string of one token id (' fluffy', not 'Ġfluffy')."""
        return self.context.tokenizer.decode_token(token_id)

    def token_ids_for(self, text: str) -> list[int]:
        """The ids of `text` alone, without special tokens (e.g. a next token the user types: ' Paris')."""
        return self.context.tokenizer.piece_ids(text)

    def output_bias(self, layer: int) -> torch.Tensor | None:
        """[d_model] the attention output bias b_O of `layer` (added once per layer, not per head), or None."""
        self.check(layer)
        b_O = self.context.weights.get(f"blocks.{layer}.attn.b_O")
        return None if b_O is None else host_float(b_O)

    # ── sizes ─────────────────────────────────────────────────────────────────────────────────────
    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def n_layers(self) -> int:
        return self.config.n_layers

    @property
    def n_heads(self) -> int:
        return self.config.n_heads

    @property
    def attention_layers(self) -> tuple[int, ...]:
        """The layers with attention heads: every layer, except a hybrid's other layers (config.mixers)."""
        return self.config.attention_layers

    def check_layer(self, layer: int) -> None:
        """Raise IndexError unless `layer` exists in this model (with heads or not)."""
        if not 0 <= layer < self.n_layers:
            raise IndexError(f"layer {layer} is out of range 0..{self.n_layers - 1}")

    def check(self, layer: int, head: int | None = None) -> None:
        """Raise IndexError unless `layer` (and `head`, if given) exist in this model, ValueError where `layer` has
        no attention heads (a hybrid's other layers)."""
        self.check_layer(layer)
        if not self.config.attends(layer):
            raise ValueError(f"layer {layer} of {self.model_name} runs {self.config.mixer_phrase(layer)}: it has no "
                             f"attention heads (its attention layers: {', '.join(map(str, self.attention_layers))})")
        if head is not None and not 0 <= head < self.n_heads:
            raise IndexError(f"head {head} is out of range 0..{self.n_heads - 1}")

    def nbytes(self) -> int:
        """Bytes this trace holds: its captured tensors and, once computed, its cached logits."""
        return captured_nbytes(self.captured, self._logits)

    # ── on the engine's device ────────────────────────────────────────────────────────────────────
    def _scores(
        self, layer: int, heads: slice | int, rows: slice = slice(None), n_keys: int | None = None, capped: bool = True,
        with_bias: bool = True,
    ):  # fmt: skip
        """(heads, n_q, n_k) scaled (soft-capped, position-biased) scores of heads[heads] for queries[rows]
        against the first n_keys keys."""
        c = self.captured
        r0, r1, _ = rows.indices(self.n_tokens)
        n_k = self.n_tokens if n_keys is None else n_keys
        bias = self._bias(layer, r0, r1 - r0, n_k) if with_bias else None  # (n_heads, n_q, n_k) or None
        return recompute.scores(c.q[layer], c.k[layer], self.config, heads, rows, n_keys, capped=capped, bias=bias)

    def _bias(self, layer: int, row_offset: int = 0, n_q: int = 0, n_k: int = 0) -> torch.Tensor | None:
        """(n_heads, n_q, n_k) `layer`'s position bias (T5, ALiBi) or terms (DeBERTa) for queries row_offset..
        and the first n_k keys (0: all of them), or None."""
        n_q, n_k, w = n_q or self.n_tokens, n_k or self.n_tokens, self.context.weights
        stack = blocks.stack_position_bias(w, self.config, n_q, n_k, row_offset)
        q, k = self.captured.q[layer][:, row_offset : row_offset + n_q], self.captured.k[layer][:, :n_k]
        return layer_position_bias(stack, w, self.config, layer, q, k, row_offset)

    def _opts(self, layer: int) -> fwd.AttnOptions:
        return fwd.AttnOptions.of(self.config, layer, self._bias(layer), self._sinks(layer))

    def _sinks(self, layer: int) -> torch.Tensor | None:
        """(n_heads,) the layer's attention-sink logits (GPT-OSS), or None."""
        return fwd.layer_sinks(self.context.pass_weights, layer)

    def _patterns(
        self, layer: int, heads: slice, causal: bool, rows: slice = slice(None), n_keys: int | None = None
    ) -> torch.Tensor:
        """(h, n_q, n_k) patterns of heads[heads] for queries[rows] over the first n_keys keys, with this
        pass's interventions. Only pass n_keys where the keys left out get zero weight anyway."""
        scores = self._scores(layer, heads, rows, n_keys)  # (h, n_q, n_k)
        layer_ivs = iv.for_layer(self.interventions, layer)
        head_ids = range(self.n_heads)[heads]
        window, sinks = self.config.window(layer), self._sinks(layer)
        return recompute.patterns(scores, causal, layer_ivs, head_ids, rows.start or 0, window, sinks)

    def _z(self, layer: int) -> torch.Tensor:
        c = self.captured
        layer_ivs = iv.for_layer(self.interventions, layer)
        opts = self._opts(layer)
        gate = lens.output_gate(self, layer)  # (n_heads, n, d_head) or None
        return fwd.layer_z(c.q[layer], c.k[layer], c.v[layer], self.causal, layer_ivs, opts=opts, gate=gate)

    def _W_O_heads(self, layer: int) -> torch.Tensor:
        return blocks.W_O_heads(self.context.weights, self.config, layer)  # (n_heads, d_head_v, d_model)

    # ── the public API: CPU float32 tensors ───────────────────────────────────────────────────────
    def scores(self, layer: int, head: int, capped: bool = True, with_bias: bool = True) -> torch.Tensor:
        """[n_q, n_k] the softmax's input before any mask: q·k times the model's scale (1/√d_head unless it
        sets one), soft-capped to cap·tanh(s/cap) where the model caps (Gemma 2), plus the position bias
        where it has one (T5; `position_bias`). capped=False: without the cap; with_bias=False: without
        the bias (the same numbers for a model without them)."""
        self.check(layer, head)
        return to_host(self._head_scores(layer, head, capped, with_bias))

    def _head_scores(self, layer: int, head: int, capped: bool = True, with_bias: bool = True) -> torch.Tensor:
        """[n_q, n_k] one head's scores: the forward pass's own `layer_scores` on the captured q and k."""
        q = self.captured.q[layer][head]  # [n, d_head], after RoPE where used
        k = self.captured.k[layer][self.config.kv_head(head)]  # [n, d_head]: the key head this query head reads
        return fwd.layer_scores(q, k, self._opts(layer).for_head(head), capped, with_bias)

    def position_bias(self, layer: int, head: int) -> torch.Tensor | None:
        """[n_q, n_k] the relative position bias this head adds to q·k·scale before the mask (T5: a learned
        number per bucket of key − query offset; every layer of a stack shares it), or None without one."""
        self.check(layer, head)
        bias = self._bias(layer)
        return None if bias is None else host_float(bias[head])

    def window(self, layer: int) -> int | None:
        """The sliding window of `layer` (a query sees at most this many keys, itself included), or None."""
        self.check(layer)
        return self.config.window(layer)

    def window_mask(self, layer: int) -> torch.Tensor | None:
        """[n_q, n_k] bool, the sliding window alone (True where |i − j| < window), or None on a layer
        without one; `mask` is this and the causal mask together."""
        w = self.window(layer)
        return None if w is None else fwd.window_mask(self.n_tokens, self.n_tokens, w)

    def mask(self, layer: int) -> torch.Tensor:
        """[n_q, n_k] bool, True where a query may attend in `layer` as this pass did (causal, window)."""
        self.check(layer)
        n = self.n_tokens
        mask = fwd.allowed_keys(n, n, self.causal, self.config.window(layer))
        return torch.ones(n, n, dtype=torch.bool) if mask is None else mask

    def masked_scores(self, layer: int, head: int) -> torch.Tensor:
        """[n_q, n_k] scores with -inf where this pass masked them: the softmax's input."""
        s = self.scores(layer, head)
        return s.masked_fill(~self.mask(layer), float("-inf"))

    def pattern(self, layer: int, head: int, masked: bool | None = None) -> torch.Tensor:
        """[n_q, n_k] attention weights; rows are queries and sum to 1 (to 1 − the sink's share where the
        model has attention sinks: GPT-OSS; model.softmax_keys).

        masked=None: the pattern this pass used; True/False: softmax of the same scores with/without
        a causal mask (a per-head what-if; the rest of the pass is unchanged). A layer's sliding window
        applies either way: it is part of the model, not of the pass's choice.
        """
        self.check(layer, head)
        causal = self.causal if masked is None else masked
        scores = self._head_scores(layer, head)  # [n_q, n_k]
        override = iv.pattern_override(iv.for_layer(self.interventions, layer), head)
        sinks = self._sinks(layer)  # GPT-OSS: (n_heads,) sink logits, else None
        sink = None if sinks is None else sinks[head]
        if override is not None:  # a temperature or a forced pattern on this head
            return to_host(iv.modified_pattern(scores, causal, override, 0, self.config.window(layer), sink))
        mask = fwd.allowed_keys(self.n_tokens, self.n_tokens, causal, self.config.window(layer), 0, scores.device)
        return to_host(fwd.attention_pattern(scores, mask, sink))  # the softmax, written out in model.py

    def layer_patterns(self, layer: int, masked: bool | None = None) -> torch.Tensor:
        """[n_heads, n_q, n_k] every head's pattern in one layer."""
        self.check(layer)
        causal = self.causal if masked is None else masked
        return to_host(self._patterns(layer, slice(None), causal))

    def pooled_patterns(
        self, size: int = 64, rows_per_chunk: int = 128, layers: list[int] | None = None, heads: slice = slice(None)
    ) -> torch.Tensor:
        """[n_layers, n_heads, s, s]: each used pattern mean-pooled over blocks of w×w cells.

        w = ceil(n / size) and s = ceil(n / w) (the last block may be narrower). Computed a chunk of
        queries at a time, so no full (n, n) layer of patterns is ever held; chunks need not align with
        blocks (each row's block sums are added into its row block). `layers` and `heads` restrict the
        result to those layers (in that order) and that slice of heads.

        The default chunk keeps one chunk's scores of every head (9 × 128 × 4096 floats = 19 MB at 4096
        tokens) inside a 32 MB L3 cache: the softmax and the pooling then read them from cache, not
        memory. Measured on the 2-core machine, SmolLM2 at 4096 tokens: 0.17 s a layer, against 0.50 s
        with 512-row chunks and an unfused softmax.
        """
        return recompute.pooled_patterns(self, size, rows_per_chunk, layers, heads)

    def pooled_pattern(self, layer: int, head: int, size: int = 256) -> torch.Tensor:
        """[s, s] one head's used pattern, mean-pooled as in `pooled_patterns` (a downsampled full view)."""
        self.check(layer, head)
        return self.pooled_patterns(size, layers=[layer], heads=slice(head, head + 1))[0, 0]

    def pattern_row_sums(
        self, layer: int, rows_per_chunk: int = 64, marked: dict[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """Per head of `layer`, [n_heads] float64 sums over every query row i of its used pattern A: "entropy" −Σ_j
        A[i,j]·ln A[i,j] (nats), "previous" A[i, i−1] and "first" A[i, 0] (i ≥ 1, as the atlas counts), "distance"
        Σ_j A[i,j]·|i − j|, and Σ_j A[i,j] over the keys each [n, n] bool of `marked` marks, under its name. A chunk of
        rows at a time for all heads, never a layer's n × n patterns (docs/performance.md: 1.3 s for SmolLM2's 30
        layers at 1,000 tokens with 64-row chunks, 2.2 s with 256, 5.6 s through layer_patterns and numpy)."""
        return recompute.pattern_row_sums(self, layer, rows_per_chunk, marked)

    def pattern_window(self, layer: int, head: int, rows: slice, cols: slice) -> torch.Tensor:
        """[rows, cols] exact weights of one head for a window of queries × keys (a zoomed view).

        Each row is normalised over all of its keys, so the window shows the true weights, not a
        renormalised crop; only the window's rows are computed.
        """
        self.check(layer, head)
        r0, r1, _ = rows.indices(self.n_tokens)
        c0, c1, _ = cols.indices(self.n_tokens)
        n_keys = min(self.n_tokens, r1) if self.causal else self.n_tokens
        p = self._patterns(layer, slice(head, head + 1), self.causal, slice(r0, r1), n_keys)[0]  # (r, n_keys)
        p = torch.nn.functional.pad(p, (0, self.n_tokens - n_keys))  # keys after the last query are masked: 0
        return to_host(p[:, c0:c1])

    def z(self, layer: int) -> torch.Tensor:
        """[n_heads, n, d_head] each head's weighted sum of values."""
        self.check(layer)
        return host_float(self._z(layer))

    def head_out(self, layer: int, head: int | None = None) -> torch.Tensor:
        """[n, d_model] one head's z·W_O (its share of the update, b_O excluded); all heads: [n_heads, n, d_model]."""
        self.check(layer, head)
        z, W_O = self._z(layer), self._W_O_heads(layer)
        if head is not None:
            return host_float(z[head] @ W_O[head])
        return host_float(torch.bmm(z, W_O))  # (n_heads, n, d_model)

    def attn_out(self, layer: int) -> torch.Tensor:
        """[n, d_model] the attention sublayer's output: Σ heads' outputs + b_O, without a scan beside the heads
        (Falcon-H1's: blocks.l.ssm_out); a hybrid's other layer: its convolution's, delta rule's or scan's output."""
        self.check_layer(layer)
        return host_float(self._mixer_out(layer, beside=False))

    def _mixer_out(self, layer: int, beside: bool = True) -> torch.Tensor:
        """(n, d_model) what `layer` mixes in, on the engine's device: attention (+ a scan beside) or another mixer."""
        w, resid = self.context.pass_weights, self.captured.resid_pre[layer]
        if not self.config.attends(layer):
            return mixers.mix(blocks.attention_input(resid, w, layer, self.config), w, layer, self.config)
        out = fwd.layer_attn_out(self._z(layer), w, layer, iv.for_layer(self.interventions, layer))
        return mixers.beside_attention(out, resid, w, layer, self.config) if beside else out

    def contributions(self, layer: int, query: int, head: int | None = None) -> torch.Tensor:
        """Per-source contributions A[i,j]·(v_j W_O) to query i's update.

        One head: [n_k, d_model], summing over keys to that head's output at i. head=None: [n_heads, n_k,
        d_model]; summing over heads and keys, plus b_O, gives the attention output at i. Ablations apply:
        a zeroed head contributes nothing; a mean-ablated head's weights are its pattern's column means.
        """
        return lens.contributions(self, layer, query, head)

    def resid(self, layer: int) -> torch.Tensor:
        """[n, d_model] the residual stream entering block `layer`; layer == n_layers: the final one."""
        if not 0 <= layer <= self.n_layers:
            raise IndexError(f"layer {layer} is out of range 0..{self.n_layers}")
        return host_float(self.captured.resid_pre[layer])

    def resid_mid(self, layer: int) -> torch.Tensor:
        """[n, d_model] the residual stream after block `layer`'s attention (or other mixer), before its MLP."""
        self.check_layer(layer)
        w, mixed = self.context.pass_weights, self._mixer_out(layer)
        return host_float(blocks.after_attention(self.captured.resid_pre[layer], mixed, w, layer, self.config))

    @property
    def logits(self) -> torch.Tensor | None:
        """[n, d_vocab] logits at each position: the next token's, a masked LM's the token there; else None."""
        if not self.config.has_lm_head:
            return None
        if self._logits is None:
            logits = fwd.unembed(self.captured.resid_pre[-1], self.context.pass_weights, self.config)  # (n, d_vocab)
            self._logits = host_float(logits)
        return self._logits

    def next_token_logits(self, position: int = -1) -> torch.Tensor | None:
        """[d_vocab] logits after the token at `position` (default: the last), without computing the other
        positions (a masked LM's: at `position`). Raises IndexError outside -n..n-1."""
        if not self.config.has_lm_head:
            return None
        i = range(self.n_tokens)[position]
        row = self.captured.resid_pre[-1][i : i + 1]
        return host_float(fwd.unembed(row, self.context.pass_weights, self.config)[0])

    # ── layer by layer (attention_core/lens.py) ──────────────────────────────────────────────────
    def lens_logits(self, layer: int) -> torch.Tensor:
        """[n, d_vocab] logit lens: residual after block `layer` → final norm → unembedding (decoders)."""
        return lens.lens_logits(self, layer)

    def lens_top(self, k: int = 5, start: int = 0, stop: int | None = None) -> lens.LensTop:
        """Top-k ids and probabilities [n_layers, stop - start, k] of every layer's lens at positions
        start..stop-1 (default: all), computed blockwise."""
        return lens.lens_top(self, k, start=start, stop=stop)

    def lens_ranks(self, position: int, token_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """[n_layers, t] lens probability and rank (0 = top-1) of each token at `position`."""
        return lens.lens_ranks(self, position, token_ids)

    def value_weighted(self, layer: int, head: int) -> torch.Tensor:
        """[n_q, n_k] ‖A[i,j]·v_j·W_O^h‖: what key j sends to query i through this head."""
        return lens.value_weighted(self, layer, head)

    def contribution_graph(self, token: int, threshold: float = 0.04) -> flow.ContributionGraph:
        """The parts of `token`'s final residual with importance ≥ threshold, traced back through every layer:
        attention edges from each source, the MLP as a self-edge (attention_core/flow.py)."""
        return flow.contribution_graph(self, token, threshold)

    # ── one head step by step, and experiments over every head ───────────────────────────────────
    def head_steps(self, layer: int, head: int) -> HeadSteps:
        """Every intermediate of one head for this text (E, q, k, scores, pattern, z, Δe) as float64 numpy."""
        return steps.head_steps(self, layer, head)

    def rope_check(self, head_steps: HeadSteps) -> float:
        """Largest |RoPE(q_pre) − q| over one head's steps: ~0 shows the captured q is the rotated E·W_Q."""
        return steps.rope_check(head_steps, self.config, self.context.weights)

    def ablation_sweep(
        self, target_id: int, position: int = -1, mode: Literal["zero", "mean"] = "zero"
    ) -> torch.Tensor:
        """[n_layers, n_heads] change in log p(target_id) at `position` when each head alone is ablated
        (decoders and masked-language models, on a trace without interventions: attention_core/sweep.py)."""
        return sweep.head_ablation_sweep(self, target_id, position, mode)

    # ── dotted names (attention_core/dotted_names.py; listed with shapes in this module's docstring) ──────────
    def __getitem__(self, name: str) -> torch.Tensor:
        return dotted_names.lookup(self, name)
