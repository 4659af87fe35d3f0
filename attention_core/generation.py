"""Continue a text token by token, with a key/value cache: each new token runs through the layers once.

The prompt runs as one chunk (positions 0..n-1, causal); every later step runs one token at position p
against the keys and values cached for positions 0..p, with RoPE rotated to p, so no step re-runs the
text before it. The same building blocks as the full pass (model.py) compute each step, with the same
interventions in every layer and at every step. One exception: a mean-ablated head's output is its mean
over *all* positions, so each new token changes what every earlier position received and the cache is
no longer valid; such a run re-runs the whole pass per token (slower, same numbers as a fresh trace).

The steps' captures (residuals, q, and the cache's k, v) are kept, so `Generation.trace` is the trace of
prompt + generated text from the very pass that generated it. A mean-ablated run's trace is its last pass, whose
weights at earlier queries are not those of the step that chose each token (the mean moved since): such a run
keeps each step's own weights at its choosing query, and `Generation.step_patterns` reads those.

A trace of exactly the prompt (same ids, causal, no interventions: e.g. the app's cached trace of the text)
can stand in for the prompt's chunk: its captured k and v fill the cache and its residuals and queries open the
new trace, so a long prompt is not run twice. A causal model's captures for a position depend only on the
positions before it, so they are the numbers the prompt's own chunk would compute.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from . import backend, blocks, embeddings, mamba, mixers
from . import interventions as iv
from . import model as fwd
from .config import ModelConfig
from .context import PassContext
from .device import host_float, to_host
from .recurrence import CarriedState
from .tokenizer import Encoding
from .trace import Trace


@dataclass
class Generation:
    """What `Model.generate` produced: the new tokens, each step's candidates, and the whole trace."""

    prompt: str
    prompt_ids: list[int]
    new_token_ids: list[int]
    new_tokens: list[str]  # readable strings of the new tokens
    top_ids: torch.Tensor  # [n_new, k] the k most likely next tokens at each step, most likely first
    top_probs: torch.Tensor  # [n_new, k] their probabilities (softmax of the logits, temperature 1)
    temperature: float  # 0: greedy
    seed: int
    interventions: tuple[iv.Intervention, ...]
    stopped_at_eos: bool
    trace: Trace  # prompt + generated tokens; query n_prompt - 1 + s is where generated token s was chosen
    # A mean-ablated run (re-run per token): per layer (n_heads, n_new, n - 1), each step's weights at its query.
    step_rows: list[torch.Tensor] | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """The prompt followed by the generated text."""
        return self.trace.text

    @property
    def n_prompt(self) -> int:
        return len(self.prompt_ids)

    def step_patterns(self, layer: int) -> torch.Tensor:
        """[n_heads, n_new, n - 1] every head's weights in `layer` at the query that chose each generated token
        (row s: query n_prompt - 1 + s, over the first n - 1 tokens; 0 past that query), from the pass that chose
        it: the trace's own, or each step's kept weights where the steps re-ran the pass (mean ablation)."""
        trace = self.trace
        trace.check(layer)
        if self.step_rows is not None:
            return self.step_rows[layer].clone()
        n, first = trace.n_tokens, self.n_prompt - 1
        with torch.inference_mode():  # only the choosing queries' rows, over the keys they could see
            rows = trace._patterns(layer, slice(None), True, slice(first, n - 1), n - 1)  # (n_heads, n_new, n - 1)
        return host_float(rows)


class KVCache:
    """Each layer's keys and values for positions 0 .. length - 1, in buffers sized once for the whole run."""

    def __init__(self, cfg: ModelConfig, n_max: int, device: torch.device, dtype: torch.dtype):
        # in the pass's dtype: the keys and values are stored as computed; values may be narrower (MLA: d_head_v)
        k_shape, v_shape = (cfg.n_kv_heads, n_max, cfg.d_head), (cfg.n_kv_heads, n_max, cfg.d_value)
        attends = [cfg.attends(layer) for layer in range(cfg.n_layers)]
        self.k = [torch.empty(k_shape, device=device, dtype=dtype) if a else None for a in attends]
        self.v = [torch.empty(v_shape, device=device, dtype=dtype) if a else None for a in attends]
        # a hybrid's layers without attention: what they carry after the tokens so far (recurrence.CarriedState)
        self.carried: dict[int, CarriedState] = {}

    def write(self, layer: int, start: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (n_kv_heads, m, d_head) at positions start..; return every key and value so far."""
        end = start + k.shape[-2]
        self.k[layer][:, start:end] = k
        self.v[layer][:, start:end] = v
        return self.k[layer][:, :end], self.v[layer][:, :end]  # (n_kv_heads, end, d_head) views

    def mix(self, layer: int, x_in: torch.Tensor, w: Mapping[str, torch.Tensor], cfg: ModelConfig):
        """A layer without attention's output (m, d_model) for the next tokens (normalised input x_in), from what the
        cache carries of the tokens before them, keeping what later tokens need (its kind's step, mixers.KINDS: a
        convolution's latest inputs, a delta rule's or a scan's state)."""
        if not cfg.mixes(layer):  # Nemotron-H's MLP-only layers: nothing to carry
            return torch.zeros_like(x_in)
        out, self.carried[layer] = mixers.kind(cfg, layer).step(x_in, w, layer, cfg, self.carried.get(layer))
        return out

    def scan_beside(self, layer: int, x_in: torch.Tensor, w: Mapping[str, torch.Tensor], cfg: ModelConfig):
        """The output (m, d_model) of the scan beside an attention layer's heads (Falcon-H1), run from, and extending,
        the state the cache carries for the layer; None where the model has no such scan."""
        if not cfg.ssm_beside_attention:
            return None
        out, self.carried[layer] = mamba.ssm_step(x_in, w, layer, cfg, self.carried.get(layer))
        return out


def step_weights(ctx: PassContext) -> Mapping[str, torch.Tensor]:
    """The matrices one-token steps multiply by. On one row, oneDNN's packed product is slower than a plain
    one (SmolLM2's fused W_gate|W_in: 3.1 ms packed, 0.9 ms plain, measured on this machine), so where the
    pass reads packed copies the steps read the canonical matrices; elsewhere the pass's own (fused)."""
    packed = any(backend.is_packed(t) for t in ctx.pass_weights.values())
    return ctx.weights if packed else ctx.pass_weights


def forward_chunk(
    ids: torch.Tensor,
    start: int,
    ctx: PassContext,
    cache: KVCache,
    ropes: list[blocks.Rope | None],
    ivs: tuple[iv.Intervention, ...],
    w: Mapping[str, torch.Tensor] | None = None,
) -> fwd.Captured:
    """Run tokens ids (m,) at positions start .. start + m - 1 through every layer, reading and extending
    the cache; returns their residuals and queries (k and v stay in the cache). `ropes`: each layer's RoPE
    tables for every position of the run (layers may differ in base). `w`: the weights to read (default:
    the full pass's). The cache keeps every key; a sliding-window layer's mask hides those out of reach."""
    w, cfg = ctx.pass_weights if w is None else w, ctx.config
    end = start + ids.shape[0]
    cap = fwd.Captured(resid_pre=[], q=[], k=[], v=[])
    bias = blocks.stack_position_bias(w, cfg, end - start, end, row_offset=start)  # (H, m, end) or None (ALiBi)
    x = embeddings.embed(ids, w, cfg, start)  # (m, d_model)
    for layer in range(cfg.n_layers):
        cap.resid_pre.append(x)
        rope = ropes[layer]
        r = (rope[0][start:end], rope[1][start:end]) if rope is not None else None  # (m, rotary dims) each
        x_in = blocks.attention_input(x, w, layer, cfg)  # (m, d_model)
        if not cfg.attends(layer):  # a hybrid's layer without attention
            x = blocks.after_mlp(blocks.after_attention(x, cache.mix(layer, x_in, w, cfg), w, layer, cfg),
                                 w, layer, cfg, x)  # fmt: skip
            cap.q.append(None)
            continue
        q, k, v = blocks.qkv(x_in, w, layer, cfg, r)  # (heads, m, d_head)
        keys, values = cache.write(layer, start, k, v)  # (n_kv_heads, end, d_head)
        layer_ivs = iv.for_layer(ivs, layer)
        opts = fwd.AttnOptions.of(cfg, layer, bias, fwd.layer_sinks(w, layer))
        gate = blocks.output_gate(x_in, w, layer, cfg)  # (n_heads, m, d_head) or None
        z = fwd.layer_z(q, keys, values, True, layer_ivs, row_offset=start, opts=opts, gate=gate)  # (heads, m, d)
        mixed, scan = fwd.layer_attn_out(z, w, layer, layer_ivs), cache.scan_beside(layer, x_in, w, cfg)  # (m, d)
        mid = blocks.after_attention(x, mixed if scan is None else mixed + scan, w, layer, cfg)
        x = blocks.after_mlp(mid, w, layer, cfg, x)  # (m, d_model)
        cap.q.append(q)
    cap.resid_pre.append(x)
    return cap


def choose(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> int:
    """Greedy (temperature 0) or a sample from softmax(logits / temperature)."""
    if temperature == 0.0 or generator is None:
        return int(logits.argmax())
    probs = torch.softmax(logits / temperature, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def run_generation(
    ctx: PassContext, enc: Encoding, prompt: str, max_new: int, temperature: float, seed: int,
    ivs: tuple[iv.Intervention, ...], top_k: int = 5, prompt_capture: fwd.Captured | None = None,
    unfinished: int = 0,
) -> Generation:
    """Long because the loop keeps its bookkeeping in one place: generate up to `max_new` tokens after the
    prompt's ids (greedy, or sampled with a seeded generator), stopping early at the end-of-text token.
    `unfinished`: how many of the prompt's last ids are the first pieces of a character it cut (`prompt_text`)."""
    cfg, device = ctx.config, ctx.device
    w = step_weights(ctx)
    ids = list(enc.ids)
    n_max = len(ids) + max_new
    ropes = blocks.layer_ropes(n_max, cfg, device)
    cache = KVCache(cfg, n_max, device, ctx.dtype)
    full_rerun = any(item.kind == "mean_head" for item in ivs)  # see the module's docstring
    generator = torch.Generator(device=device).manual_seed(int(seed)) if temperature > 0 else None
    new_ids: list[int] = []
    top_ids, top_probs = [], []
    step_rows: list[list[torch.Tensor]] = []  # mean ablation: per step, per layer (n_heads, keys it saw)
    stopped = False
    with torch.inference_mode():
        if prompt_capture is not None and not full_rerun:
            chunks = [_reuse_prompt(prompt_capture, cache, ctx)]
        else:
            chunks = [_first_chunk(ids, ctx, cache, ropes, ivs, full_rerun)]
        for _ in range(max_new):
            logits = fwd.unembed(chunks[-1].resid_pre[-1][-1:], w, cfg)[0].float()  # (d_vocab,) after the last token
            top = torch.softmax(logits, dim=-1).topk(top_k)
            top_ids.append(to_host(top.indices))
            top_probs.append(to_host(top.values))
            if full_rerun:  # this pass's weights at the choosing query: the next pass moves the mean
                step_rows.append(_choosing_rows(ctx, chunks[-1], ids + new_ids, ivs))
            token = choose(logits, temperature, generator)
            new_ids.append(token)
            # The new token runs too (its k, v and residuals complete the trace), even if it is the last.
            step = torch.tensor([token], dtype=torch.long, device=device)
            if full_rerun:
                chunks = [fwd.run(torch.tensor(ids + new_ids, device=device), ctx.pass_weights, cfg, True, ivs)]
            else:
                chunks.append(forward_chunk(step, len(ids) + len(new_ids) - 1, ctx, cache, ropes, ivs, w))
            if cfg.eos_token_id is not None and token == cfg.eos_token_id:
                stopped = True
                break
    trace = _trace(ctx, enc, prompt, new_ids, (chunks, cache, full_rerun), ivs, unfinished)
    return Generation(
        prompt=prompt, prompt_ids=list(enc.ids), new_token_ids=new_ids,
        new_tokens=[ctx.tokenizer.decode_token(t) for t in new_ids],
        top_ids=torch.stack(top_ids), top_probs=torch.stack(top_probs),
        temperature=float(temperature), seed=int(seed), interventions=ivs, stopped_at_eos=stopped, trace=trace,
        step_rows=_stack_rows(step_rows, trace.n_tokens - 1) if full_rerun else None,
    )  # fmt: skip


def _choosing_rows(ctx: PassContext, captured: fwd.Captured, ids: list[int], ivs) -> list[torch.Tensor]:
    """Per layer (n_heads, m): every head's weights at the last of `ids` (the query choosing the next token) in
    the pass `captured` over them, with its interventions."""
    m = len(ids)
    one_pass = Trace(
        context=ctx, text="", token_ids=list(ids), tokens=[""] * m, offsets=[(0, 0)] * m, causal=True,
        truncated=False, n_input_tokens=m, captured=captured, interventions=ivs,
    )  # fmt: skip
    return [host_float(one_pass._patterns(layer, slice(None), True, slice(m - 1, m))[:, 0])
            if ctx.config.attends(layer) else torch.zeros(0, m)  # a layer without attention: no heads
            for layer in range(ctx.config.n_layers)]  # fmt: skip


def _stack_rows(step_rows: list[list[torch.Tensor]], n_keys: int) -> list[torch.Tensor]:
    """Per layer (n_heads, n_steps, n_keys): the steps' rows, each zero past the keys its step saw."""
    stacked = [torch.zeros(row.shape[0], len(step_rows), n_keys) for row in step_rows[0]]
    for s, rows in enumerate(step_rows):
        for layer, row in enumerate(rows):
            stacked[layer][:, s, : row.shape[-1]] = row
    return stacked


def _first_chunk(ids, ctx, cache, ropes, ivs, full_rerun) -> fwd.Captured:
    ids_t = torch.tensor(ids, dtype=torch.long, device=ctx.device)
    if full_rerun:
        return fwd.run(ids_t, ctx.pass_weights, ctx.config, True, ivs)
    return forward_chunk(ids_t, 0, ctx, cache, ropes, ivs)


def _reuse_prompt(captured: fwd.Captured, cache: KVCache, ctx: PassContext) -> fwd.Captured:
    """The prompt's chunk from a trace of the prompt: its k, v into the cache (a convolution layer's latest inputs, a
    delta rule's or a scan's state, recomputed from its residual), its residuals and queries kept."""
    w, cfg = ctx.pass_weights, ctx.config
    for layer, (k, v) in enumerate(zip(captured.k, captured.v, strict=True)):
        if k is None:  # a hybrid's other layer: what it keeps for later tokens, from its residual
            cache.mix(layer, blocks.attention_input(captured.resid_pre[layer], w, layer, cfg), w, cfg)
            continue
        cache.write(layer, 0, k, v)  # (n_kv_heads, n, d_head) each
        if cfg.ssm_beside_attention:  # the scan beside the heads (Falcon-H1): its state after the prompt
            cache.scan_beside(layer, blocks.attention_input(captured.resid_pre[layer], w, layer, cfg), w, cfg)
    return fwd.Captured(resid_pre=list(captured.resid_pre), q=list(captured.q), k=[], v=[])


def _joined(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
    """The chunks' queries of one layer along positions; None in a layer without attention."""
    return None if parts[0] is None else torch.cat(parts, dim=1)


def _kept(buffer: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """The first n positions of a cache buffer, copied (no spare room kept); None in a layer without attention."""
    return None if buffer is None else buffer[:, :n].clone()


def _trace(ctx, enc: Encoding, prompt: str, new_ids: list[int], run, ivs, unfinished: int = 0):
    """The Trace of prompt + new tokens from the generating pass's own captures (`run`: its chunks, its cache and
    whether it re-ran the whole pass per token)."""
    chunks, cache, full_rerun = run
    n = len(enc.ids) + len(new_ids)
    if full_rerun:
        captured = chunks[-1]
    else:
        L = ctx.config.n_layers
        captured = fwd.Captured(
            resid_pre=[torch.cat([c.resid_pre[i] for c in chunks]) for i in range(L + 1)],  # (n, d_model)
            q=[_joined([c.q[i] for c in chunks]) for i in range(L)],  # (n_heads, n, d_head)
            k=[_kept(cache.k[i], n) for i in range(L)],  # (n_kv_heads, n, d_head), no spare buffer
            v=[_kept(cache.v[i], n) for i in range(L)],
        )
    decode = ctx.tokenizer.decode
    anchor = last_character_start(enc.offsets, unfinished)
    continuation, spans = continuation_and_offsets(decode, list(enc.ids), new_ids, len(prompt), anchor, unfinished)
    return Trace(
        context=ctx, text=prompt + continuation, token_ids=list(enc.ids) + new_ids,
        tokens=list(enc.tokens) + [ctx.tokenizer.decode_token(t) for t in new_ids], offsets=list(enc.offsets) + spans,
        causal=True, truncated=enc.truncated, n_input_tokens=enc.n_input_tokens + len(new_ids),
        captured=captured, interventions=ivs,
    )  # fmt: skip


def prompt_text(text: str, enc: Encoding) -> tuple[str, int]:
    """The text a generation continues, and how many of its last ids are the first pieces of a character the cap
    cut (0 when none). A text the token cap cut ends where the last token read ends; where that token is only the
    first bytes of a character (an emoji's), the text ends before the character, whose pieces the continuation
    completes. A cut inside a character is seen in the first token left out: a piece of the same character has the
    same end (`Encoding.next_end`)."""
    if not enc.truncated:
        return text, 0
    n, last_end = len(enc.ids), enc.offsets[-1][1]
    if last_end == 0 or enc.next_end != last_end:
        return text[: max(end for _, end in enc.offsets)], 0
    unfinished = 0  # the kept pieces of that character: those that end where it ends
    while unfinished < n and enc.offsets[n - 1 - unfinished][1] == last_end:
        unfinished += 1
    return text[: enc.offsets[n - unfinished][0]], unfinished


def last_character_start(offsets: list[tuple[int, int]], unfinished: int = 0) -> int:
    """The index of the first piece of the last whole character before the `unfinished` last ones: a character's
    pieces share its end (a special token's (0, 0) is its own)."""
    i = len(offsets) - unfinished - 1
    if i < 0:
        return len(offsets) - unfinished
    while i > 0 and offsets[i][1] > 0 and offsets[i - 1][1] == offsets[i][1]:
        i -= 1
    return i


def continuation_and_offsets(
    decode: Callable[[list[int]], str], prompt_ids: list[int], new_ids: list[int], start: int,
    anchor_start: int | None = None, unfinished: int = 0,
) -> tuple[str, list[tuple[int, int]]]:  # fmt: skip
    """The text the new tokens add after the prompt, and each one's character span in prompt + that text (the
    continuation begins at `start`).

    The new tokens are decoded after the prompt's last token: a SentencePiece decoder drops the leading space of
    a sequence's first token ('▁world' alone is 'world'), which after a prompt is ' world'. The spans are as the
    tokenizer gives a text's tokens: a byte piece of a character spans that character (with a space it carries),
    so every piece of one character shares its span. A prefix's decode ends in U+FFFD while a character is
    incomplete (one for byte-level BPE, one per byte for byte fallback): only the part that agrees with the whole
    continuation counts as written, and an unfinished character counts as begun.

    `anchor_start`: where the prompt's last whole character begins in its ids (`last_character_start`; default:
    its last id). A byte-fallback decoder reads a run of byte pieces together and writes the whole run as U+FFFD
    if any of it is not UTF-8, so the anchor must begin at a character's first piece. `unfinished`: how many of
    the prompt's last ids are the first pieces of a character that the prompt's text leaves out: the continuation
    begins with the character they and the new pieces make."""
    anchor = list(prompt_ids[-1:] if anchor_start is None else prompt_ids[anchor_start:])
    before = decode(anchor[: len(anchor) - unfinished])  # the unfinished character belongs to the continuation

    def after_prompt(ids: list[int]) -> str:
        text = decode(anchor + ids)
        return text[len(before) :] if text.startswith(before) else decode(ids)

    continuation = after_prompt(new_ids)
    spans, end = [], start
    for i in range(len(new_ids)):
        so_far = after_prompt(new_ids[: i + 1])
        done = len(os.path.commonprefix([so_far, continuation]))
        previous, end = end, start + done + (len(so_far) > done)  # + the character a byte piece has begun
        spans.append((min(previous, end - 1), end) if end > start else (previous, end))
    return continuation, spans
