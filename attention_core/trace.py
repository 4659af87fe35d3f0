"""What one forward pass captured, and everything derived from it on request.

The pass keeps O(n·d_model) per layer (residual in, q, k, v). Scores, patterns, z, head outputs and
per-source contributions are recomputed from those with the same functions the pass used, so they are
the numbers the model really computed. Every public method returns float32 CPU tensors.

Dotted names (TransformerLens style) for `trace[name]`, layer l, head h:

    blocks.l.resid_pre        [n, d_model]             residual stream entering block l
    blocks.l.attn.q           [n_heads, n, d_head]     queries (after RoPE where used)
    blocks.l.attn.k           [n_kv_heads, n, d_head]  keys (after RoPE where used)
    blocks.l.attn.v           [n_kv_heads, n, d_head]  values
    blocks.l.attn.scores      [n_heads, n_q, n_k]      q·k/√d_head, before the mask
    blocks.l.attn.mask        [n_q, n_k]               bool, True where a query may attend
    blocks.l.attn.masked_scores [n_heads, n_q, n_k]    scores with -inf where masked
    blocks.l.attn.pattern     [n_heads, n_q, n_k]      softmax of masked scores; rows sum to 1
    blocks.l.attn.z           [n_heads, n, d_head]     pattern · v
    blocks.l.attn.head_out    [n_heads, n, d_model]    z · W_O (each head's slice), without b_O
    blocks.l.attn_out         [n, d_model]             Σ heads' outputs + b_O
    blocks.l.resid_mid        [n, d_model]             residual after the attention sublayer
    blocks.l.resid_post       [n, d_model]             residual leaving block l
    logits                    [n, d_vocab]             decoders only
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from . import interventions as iv
from . import model as fwd

if TYPE_CHECKING:
    from .api import Model


def causal_mask(n_q: int, n_k: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n_q, n_k) bool, True on and below the diagonal: query i may attend to keys 0..i."""
    return torch.ones(n_q, n_k, dtype=torch.bool, device=device).tril()


def pool_edges(n: int, size: int) -> tuple[int, int]:
    """Block width and block count for pooling n positions to at most `size` blocks (last may be narrower)."""
    width = max(1, math.ceil(n / size))
    return width, math.ceil(n / width)


@dataclass
class Trace:
    model: Model = field(repr=False)
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
    _logits: torch.Tensor | None = field(default=None, repr=False)

    # ── sizes ─────────────────────────────────────────────────────────────────────────────────────
    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def n_layers(self) -> int:
        return self.model.config.n_layers

    @property
    def n_heads(self) -> int:
        return self.model.config.n_heads

    def _check(self, layer: int, head: int | None = None) -> None:
        if not 0 <= layer < self.n_layers:
            raise IndexError(f"layer {layer} is out of range 0..{self.n_layers - 1}")
        if head is not None and not 0 <= head < self.n_heads:
            raise IndexError(f"head {head} is out of range 0..{self.n_heads - 1}")

    # ── on the engine's device ────────────────────────────────────────────────────────────────────
    def _keys(self, layer: int, which: str) -> torch.Tensor:
        """k or v expanded so that index h is query head h's key/value head: (n_heads, n, d_head)."""
        t = getattr(self.captured, which)[layer]
        group = self.model.config.group_size
        return t if group == 1 else t.repeat_interleave(group, dim=0)

    def _scores(
        self,
        layer: int,
        heads: slice | int,
        rows: slice = slice(None),
        n_keys: int | None = None,
        scale_q: bool = False,
    ):
        """(heads, n_q, n_k) scaled scores of heads[heads] for queries[rows] against the first n_keys keys.

        scale_q multiplies the (small) q by 1/√d_head instead of dividing the (large) scores: one pass
        over n_q × n_k fewer, at a rounding difference of ~1e-7 relative (pooled views use it; exact
        views do not)."""
        cfg = self.model.config
        keys = slice(0, n_keys)
        scale = 1.0 / math.sqrt(cfg.d_head)
        if heads == slice(None) and cfg.group_size > 1:
            # All heads: multiply each key head once by its whole group of queries (no copy of k).
            q = self.captured.q[layer][:, rows]  # (n_heads, n_q, d_head)
            if scale_q:
                q = q * scale
            n_q = q.shape[1]
            q = q.reshape(cfg.n_kv_heads, cfg.group_size * n_q, cfg.d_head)  # (n_kv_heads, group·n_q, d_head)
            k = self.captured.k[layer][:, keys]  # (n_kv_heads, n_k, d_head)
            scores = (q @ k.transpose(-1, -2)).view(cfg.n_heads, n_q, -1)  # (n_heads, n_q, n_k)
        else:
            q = self.captured.q[layer][heads, rows]  # (heads, n_q, d_head) or (n_q, d_head)
            if scale_q:
                q = q * scale
            k = self._keys(layer, "k")[heads, ..., keys, :]  # (heads, n_k, d_head) or (n_k, d_head)
            scores = q @ k.transpose(-1, -2)
        return scores if scale_q else scores / math.sqrt(cfg.d_head)

    def _patterns(
        self, layer: int, heads: slice, causal: bool, rows: slice = slice(None), n_keys: int | None = None
    ) -> torch.Tensor:
        """(h, n_q, n_k) patterns of heads[heads] for queries[rows] over the first n_keys keys, with this
        pass's interventions. Only pass n_keys where the keys left out get zero weight anyway."""
        scores = self._scores(layer, heads, rows, n_keys)  # (h, n_q, n_k)
        row_offset = rows.start or 0
        layer_ivs = iv.for_layer(self.interventions, layer)
        head_ids = range(self.n_heads)[heads]
        overrides = [iv.pattern_override(layer_ivs, h) for h in head_ids]
        if not any(overrides):
            return iv.modified_pattern(scores, causal, None, row_offset)
        per_head = zip(scores, overrides, strict=True)
        return torch.stack([iv.modified_pattern(s, causal, o, row_offset) for s, o in per_head])

    def _z(self, layer: int) -> torch.Tensor:
        c = self.captured
        layer_ivs = iv.for_layer(self.interventions, layer)
        return fwd.layer_z(c.q[layer], c.k[layer], c.v[layer], self.causal, layer_ivs)  # (n_heads, n, d_head)

    @property
    def _pass_weights(self) -> dict[str, torch.Tensor]:
        """The weights as the forward pass read them (fused, packed on the CPU), so a recomputed step
        gives the pass's own numbers; a decoder view of an encoder-decoder has only canonical ones."""
        return getattr(self.model, "_fast", self.model.weights)

    def _W_O_heads(self, layer: int) -> torch.Tensor:
        cfg = self.model.config
        return self.model.weights[f"blocks.{layer}.attn.W_O"].view(cfg.n_heads, cfg.d_head, cfg.d_model)

    # ── the public API: CPU float32 tensors ───────────────────────────────────────────────────────
    def scores(self, layer: int, head: int) -> torch.Tensor:
        """[n_q, n_k] scaled dot products q·k/√d_head, before any mask."""
        self._check(layer, head)
        return self._scores(layer, head).cpu()

    def mask(self, layer: int) -> torch.Tensor:
        """[n_q, n_k] bool, True where a query may attend, as used by this pass (same in every layer)."""
        self._check(layer)
        n = self.n_tokens
        return causal_mask(n, n) if self.causal else torch.ones(n, n, dtype=torch.bool)

    def masked_scores(self, layer: int, head: int) -> torch.Tensor:
        """[n_q, n_k] scores with -inf where this pass masked them: the softmax's input."""
        s = self.scores(layer, head)
        return s.masked_fill(~self.mask(layer), float("-inf"))

    def pattern(self, layer: int, head: int, masked: bool | None = None) -> torch.Tensor:
        """[n_q, n_k] attention weights; rows are queries and sum to 1.

        masked=None: the pattern this pass used; True/False: softmax of the same scores with/without
        a causal mask (a per-head what-if; the rest of the pass is unchanged).
        """
        self._check(layer, head)
        causal = self.causal if masked is None else masked
        return self._patterns(layer, slice(head, head + 1), causal)[0].cpu()

    def layer_patterns(self, layer: int, masked: bool | None = None) -> torch.Tensor:
        """[n_heads, n_q, n_k] every head's pattern in one layer."""
        self._check(layer)
        causal = self.causal if masked is None else masked
        return self._patterns(layer, slice(None), causal).cpu()

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
        n = self.n_tokens
        layers = list(range(self.n_layers)) if layers is None else layers
        for layer in layers:
            self._check(layer)
        n_heads = len(range(self.n_heads)[heads])
        width, s = pool_edges(n, size)
        chunk = max(1, rows_per_chunk)
        device = self.captured.q[0].device
        widths = torch.full((s,), float(width), device=device)
        widths[-1] = n - width * (s - 1)
        out = torch.zeros(len(layers), n_heads, s, s, device=device)
        for i, layer in enumerate(layers):
            for r0 in range(0, n, chunk):
                r1 = min(n, r0 + chunk)
                cols = self._pooled_columns(layer, heads, r0, r1, width, s)  # (h, r, s) sums over key blocks
                row_blocks = torch.arange(r0, r1, device=device) // width
                out[i].index_add_(1, row_blocks, cols)  # each row's sums into its row block
        out /= widths[:, None] * widths[None, :]  # block sums → block means
        return out.cpu()

    def pooled_pattern(self, layer: int, head: int, size: int = 256) -> torch.Tensor:
        """[s, s] one head's used pattern, mean-pooled as in `pooled_patterns` (a downsampled full view)."""
        self._check(layer, head)
        return self.pooled_patterns(size, layers=[layer], heads=slice(head, head + 1))[0, 0]

    def pattern_window(self, layer: int, head: int, rows: slice, cols: slice) -> torch.Tensor:
        """[rows, cols] exact weights of one head for a window of queries × keys (a zoomed view).

        Each row is normalised over all of its keys, so the window shows the true weights, not a
        renormalised crop; only the window's rows are computed.
        """
        self._check(layer, head)
        r0, r1, _ = rows.indices(self.n_tokens)
        c0, c1, _ = cols.indices(self.n_tokens)
        n_keys = min(self.n_tokens, r1) if self.causal else self.n_tokens
        p = self._patterns(layer, slice(head, head + 1), self.causal, slice(r0, r1), n_keys)[0]  # (r, n_keys)
        p = torch.nn.functional.pad(p, (0, self.n_tokens - n_keys))  # keys after the last query are masked: 0
        return p[:, c0:c1].cpu()

    def _pooled_columns(self, layer: int, heads: slice, r0: int, r1: int, width: int, s: int) -> torch.Tensor:
        """(h, r1 - r0, s): each query row's pattern summed over blocks of `width` keys, for heads[heads].

        The fast path scales q (not the scores) by 1/√d_head and runs one fused softmax over the chunk;
        it never touches keys that a causal mask zeroes (those after r1).
        """
        n = self.n_tokens
        n_keys = r1 if self.causal else n  # under a causal mask, keys after the chunk get exactly zero weight
        if iv.for_layer(self.interventions, layer):  # pattern overrides: take the general path
            p = self._patterns(layer, heads, self.causal, slice(r0, r1), n_keys)  # (h, r, n_keys)
            p = torch.nn.functional.pad(p, (0, s * width - n_keys))
            return p.view(p.shape[0], r1 - r0, s, width).sum(-1)
        e = self._scores(layer, heads, slice(r0, r1), n_keys, scale_q=True)  # (h, r, n_keys)
        if self.causal:  # only the chunk's own square has keys after some of its queries
            e[:, :, r0:r1].masked_fill_(~causal_mask(r1 - r0, r1 - r0, e.device), float("-inf"))
        e = torch.softmax(e, dim=-1)
        full = n_keys // width * width  # keys in whole blocks; the rest form one narrower block
        cols = e[..., :full].unflatten(-1, (full // width, width)).sum(-1)  # (h, r, full / width)
        if full < n_keys:
            cols = torch.cat([cols, e[..., full:].sum(-1, keepdim=True)], dim=-1)
        return torch.nn.functional.pad(cols, (0, s - cols.shape[-1]))  # (h, r, s)

    def z(self, layer: int) -> torch.Tensor:
        """[n_heads, n, d_head] each head's weighted sum of values."""
        self._check(layer)
        return self._z(layer).cpu()

    def head_out(self, layer: int, head: int | None = None) -> torch.Tensor:
        """[n, d_model] one head's z·W_O (its share of the update, b_O excluded); all heads: [n_heads, n, d_model]."""
        self._check(layer, head)
        z, W_O = self._z(layer), self._W_O_heads(layer)
        if head is not None:
            return (z[head] @ W_O[head]).cpu()
        return torch.bmm(z, W_O).cpu()  # (n_heads, n, d_model)

    def attn_out(self, layer: int) -> torch.Tensor:
        """[n, d_model] the attention sublayer's output: Σ heads' outputs + b_O."""
        self._check(layer)
        layer_ivs = iv.for_layer(self.interventions, layer)
        return fwd.layer_attn_out(self._z(layer), self._pass_weights, layer, layer_ivs).cpu()

    def contributions(self, layer: int, query: int, head: int | None = None) -> torch.Tensor:
        """Per-source contributions A[i,j]·(v_j W_O) to query i's update.

        One head: [n_k, d_model], summing over keys to that head's output at i. head=None: [n_heads, n_k,
        d_model]; summing over heads and keys, plus b_O, gives the attention output at i. Ablations apply:
        a zeroed head contributes nothing; a mean-ablated head's weights are its pattern's column means.
        """
        self._check(layer, head)
        if not 0 <= query < self.n_tokens:
            raise IndexError(f"query {query} is out of range 0..{self.n_tokens - 1}")
        a = self._patterns(layer, slice(None), self.causal, slice(query, query + 1))[:, 0]  # (n_heads, n_k)
        for item in iv.for_layer(self.interventions, layer):
            if item.kind == "zero_layer":
                a = torch.zeros_like(a)
            elif item.kind == "zero_head":
                a[item.head] = 0.0
            elif item.kind == "mean_head":  # the head's output is its mean over queries
                a[item.head] = self._patterns(layer, slice(item.head, item.head + 1), self.causal)[0].mean(0)
        values_up = torch.bmm(self._keys(layer, "v"), self._W_O_heads(layer))  # (n_heads, n_k, d_model)
        out = a[..., None] * values_up  # (n_heads, n_k, d_model)
        return (out if head is None else out[head]).cpu()

    def resid(self, layer: int) -> torch.Tensor:
        """[n, d_model] the residual stream entering block `layer`; layer == n_layers: the final one."""
        if not 0 <= layer <= self.n_layers:
            raise IndexError(f"layer {layer} is out of range 0..{self.n_layers}")
        return self.captured.resid_pre[layer].cpu()

    def resid_mid(self, layer: int) -> torch.Tensor:
        """[n, d_model] the residual stream after block `layer`'s attention, before its MLP."""
        self._check(layer)
        w = self._pass_weights
        attn = fwd.layer_attn_out(self._z(layer), w, layer, iv.for_layer(self.interventions, layer))
        return fwd.after_attention(self.captured.resid_pre[layer], attn, w, layer, self.model.config).cpu()

    @property
    def logits(self) -> torch.Tensor | None:
        """[n, d_vocab] next-token logits at every position (decoders); None for encoders."""
        if not self.model.config.has_lm_head:
            return None
        if self._logits is None:
            self._logits = fwd.unembed(self.captured.resid_pre[-1], self._pass_weights, self.model.config).cpu()
        return self._logits

    def next_token_logits(self) -> torch.Tensor | None:
        """[d_vocab] logits after the last token, without computing the other positions (decoders)."""
        if not self.model.config.has_lm_head:
            return None
        last = self.captured.resid_pre[-1][-1:]
        return fwd.unembed(last, self._pass_weights, self.model.config)[0].cpu()

    # ── dotted names ──────────────────────────────────────────────────────────────────────────────
    def __getitem__(self, name: str) -> torch.Tensor:
        if name == "logits":
            logits = self.logits
            if logits is None:
                raise KeyError("logits: encoders have no next-token logits")
            return logits
        parts = name.split(".")
        try:
            assert parts[0] == "blocks"
            layer, rest = int(parts[1]), ".".join(parts[2:])
        except (AssertionError, IndexError, ValueError):
            raise KeyError(name) from None
        self._check(layer)
        getters = {
            "resid_pre": lambda: self.resid(layer),
            "resid_post": lambda: self.resid(layer + 1),
            "resid_mid": lambda: self.resid_mid(layer),
            "attn.q": lambda: self.captured.q[layer].cpu(),
            "attn.k": lambda: self.captured.k[layer].cpu(),
            "attn.v": lambda: self.captured.v[layer].cpu(),
            "attn.scores": lambda: self._scores(layer, slice(None)).cpu(),
            "attn.mask": lambda: self.mask(layer),
            "attn.masked_scores": lambda: (
                self._scores(layer, slice(None)).cpu().masked_fill(~self.mask(layer), float("-inf"))
            ),
            "attn.pattern": lambda: self.layer_patterns(layer),
            "attn.z": lambda: self.z(layer),
            "attn.head_out": lambda: self.head_out(layer),
            "attn_out": lambda: self.attn_out(layer),
        }
        if rest not in getters:
            raise KeyError(name)
        return getters[rest]()
