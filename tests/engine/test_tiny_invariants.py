"""Invariants of the engine on tiny random models, for the fast tier: the logit lens, ablations, forced patterns and
temperature, value-weighted patterns, pattern row sums and pooled patterns, each against a reference written out
here from public tensors (the captured q, k, v, the residuals) and from the transformers model's own weights and
modules (o_proj / the output dense layer, the MLP, the final norm and lm_head), never through the engine function
under test. The real-model tier checks the same on SmolLM2 and MiniLM (test_invariants.py, test_interventions.py,
test_lens.py); these catch the same mistakes in seconds.

Models: a 2-layer Llama with 4 query heads over 2 key/value heads (grouped-query attention, RoPE, RMSNorm), and a
2-layer bidirectional BERT (post-norm, biases) where the mask matters; weights std 0.3, so patterns are peaked.

Tolerances (float32 CPU; references in float64 from the same float32 captures):
  patterns and pooled blocks against the softmax written out here      1e-5 absolute
  our softmax against transformers' attentions                         1e-4 absolute (as test_hf_architectures.py)
  row sums (n ≤ 40 rows of ≤ 40 weights)                               1e-4 absolute
  logits, residuals, head outputs, value-weighted norms                1e-4 · max(1, max |reference|)
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from attention_core import ablate_head, force_pattern, load_model, temperature
from tests.tiny_models import byte_bpe, wordpiece

transformers = pytest.importorskip("transformers")

TEXT = "the blue creature took a mole of the forest and the fox"
PATTERN_TOL, HF_PATTERN_TOL, SUM_TOL, REL_TOL = 1e-5, 1e-4, 1e-4, 1e-4
SMALL = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, vocab_size=300)


def build(kind: str, folder, cache) -> SimpleNamespace:
    """A tiny random `kind` ("llama" or "bert") saved to `folder`, loaded by the engine (cache under `cache`):
    (hf, model)."""
    torch.manual_seed(0)
    if kind == "llama":
        cfg = transformers.LlamaConfig(num_key_value_heads=2, max_position_embeddings=128, rope_theta=5000.0,
                                       tie_word_embeddings=False, **SMALL)  # fmt: skip
        hf, tok = transformers.LlamaForCausalLM(cfg), byte_bpe(300)
    else:
        hf, tok = transformers.BertModel(transformers.BertConfig(max_position_embeddings=130, **SMALL)), wordpiece(300)
    hf.set_attn_implementation("eager")  # the only implementation that returns attention patterns
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if p.dim() == 2 or name.endswith("bias"):
                p.normal_(0.0, 0.3)
    hf.save_pretrained(folder, safe_serialization=True)
    tok.save(str(folder / "tokenizer.json"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTN_CACHE_DIR", str(cache))
        model = load_model(str(folder), device="cpu")
    return SimpleNamespace(hf=hf.eval(), model=model)


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return build("llama", tmp_path_factory.mktemp("llama"), tmp_path_factory.mktemp("llama-cache"))


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return build("bert", tmp_path_factory.mktemp("bert"), tmp_path_factory.mktemp("bert-cache"))


# ── references ────────────────────────────────────────────────────────────────────────────────────


def softmax_patterns(trace, layer: int, causal: bool | None = None, T: float = 1.0) -> torch.Tensor:
    """(n_heads, n, n) float64: softmax(q·kᵀ/√d_head / T) under the causal mask (the pass's unless given), from the
    captured q and k; query head h reads key head h // group, written out."""
    cfg = trace.config
    group = cfg.n_heads // cfg.n_kv_heads
    q = trace[f"blocks.{layer}.attn.q"].double()
    k = trace[f"blocks.{layer}.attn.k"].double()[[h // group for h in range(cfg.n_heads)]]
    s = q @ k.transpose(-1, -2) / math.sqrt(cfg.d_head) / T
    if trace.causal if causal is None else causal:
        n = s.shape[-1]
        s = s.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(s, -1)


def values(trace, layer: int) -> torch.Tensor:
    """(n_heads, n, d_head): each query head's values (key/value head h // group)."""
    cfg = trace.config
    return trace[f"blocks.{layer}.attn.v"][[h // (cfg.n_heads // cfg.n_kv_heads) for h in range(cfg.n_heads)]]


def W_O(hf, layer: int, head: int, d_head: int) -> torch.Tensor:
    """(d_head, d_model) head `head`'s slice of the output projection, from the transformers module."""
    if hasattr(hf, "model"):
        w = hf.model.layers[layer].self_attn.o_proj.weight
    else:
        w = hf.encoder.layer[layer].attention.output.dense.weight
    return w[:, head * d_head : (head + 1) * d_head].T.detach()


def next_resid(hf, trace, layer: int, z: torch.Tensor) -> torch.Tensor:
    """The Llama residual leaving block `layer` had its heads' weighted values been z (n_heads, n, d_head): the
    transformers block's o_proj, post-attention norm and MLP on top of the trace's residual entering it."""
    block = hf.model.layers[layer]
    with torch.no_grad():
        mid = trace.resid(layer) + block.self_attn.o_proj(z.float().transpose(0, 1).flatten(1))
        return mid + block.mlp(block.post_attention_layernorm(mid))


def row_sums(p: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per head of (h, n, n) patterns: entropy (nats), A[i, i−1] and A[i, 0] over i ≥ 1, Σ A[i,j]·|i − j|."""
    p = p.double()
    n = p.shape[-1]
    i = torch.arange(n)
    return {
        "entropy": -torch.special.xlogy(p, p).sum((-1, -2)),
        "previous": p[:, i[1:], i[1:] - 1].sum(-1),
        "first": p[:, 1:, 0].sum(-1),
        "distance": (p * (i[:, None] - i[None, :]).abs()).sum((-1, -2)),
    }


def close(got: torch.Tensor, want: torch.Tensor, rel: float = REL_TOL) -> None:
    scale = max(1.0, want.abs().max().item())
    diff = (got.double() - want.double()).abs().max().item()
    assert diff <= rel * scale, f"differs by {diff} (scale {scale})"


def traces(llama, bert) -> dict[str, object]:
    return {
        "llama": llama.model.trace(TEXT),
        "llama-bidir": llama.model.trace(TEXT, causal=False),
        "bert": bert.model.trace(TEXT),
    }


# ── tests ─────────────────────────────────────────────────────────────────────────────────────────


def test_the_reference_softmax_is_transformers_and_the_engines(llama, bert):
    for pair in (llama, bert):
        t = pair.model.trace(TEXT)
        assert t.causal is (pair is llama) and t.config.n_heads == 4
        with torch.no_grad():
            out = pair.hf(torch.tensor([t.token_ids]), output_attentions=True)
        for layer in range(t.n_layers):
            mine = softmax_patterns(t, layer)
            assert (mine - out.attentions[layer][0].double()).abs().max() <= HF_PATTERN_TOL
            assert (t.layer_patterns(layer) - mine).abs().max() <= PATTERN_TOL
            assert mine[:, -1].max() > 3.0 / t.n_tokens  # peaked: a wrong row or column moves real weight
    assert llama.model.config.n_kv_heads == 2  # grouped-query: heads 0, 1 read key/value head 0; 2, 3 head 1


def test_the_lens_after_block_k_is_block_ks_output_and_the_last_is_the_logits(llama):
    t = llama.model.trace(TEXT)
    with torch.no_grad():
        out = llama.hf(torch.tensor([t.token_ids]), output_hidden_states=True)
        hidden = out.hidden_states  # [k]: the residual entering block k; the last one after the final norm
        refs = [llama.hf.lm_head(llama.hf.model.norm(hidden[k + 1][0])) for k in range(t.n_layers - 1)]
    refs.append(out.logits[0])
    close(t.logits, out.logits[0])
    top = t.lens_top(k=3)
    for layer, ref in enumerate(refs):
        close(t.lens_logits(layer), ref)
        probs = torch.softmax(ref.double(), -1)
        assert torch.equal(top.ids[layer], ref.topk(3, -1).indices)
        close(top.probs[layer], probs.gather(-1, top.ids[layer]))
    probs, ranks = t.lens_ranks(4, [7, 42])
    for layer, ref in enumerate(refs):
        row = ref[4]
        assert ranks[layer].tolist() == [int((row > row[i]).sum()) for i in (7, 42)]
        close(probs[layer], torch.softmax(row.double(), -1)[[7, 42]])


def test_zero_and_mean_ablation_set_the_heads_output_and_the_pass_uses_it(llama):
    clean = llama.model.trace(TEXT)
    d_head = clean.config.d_head
    z = softmax_patterns(clean, 0).float() @ values(clean, 0)  # (n_heads, n, d_head) the clean heads' z
    for mode, head in (("mean", 3), ("zero", 1)):
        t = llama.model.trace(TEXT, interventions=[ablate_head(0, head, mode=mode)])
        want = z.clone()
        want[head] = z[head].mean(0, keepdim=True) if mode == "mean" else 0.0
        out = want[head].expand_as(z[head]) @ W_O(llama.hf, 0, head, d_head)  # (n, d_model)
        close(t.head_out(0, head), out)
        close(t.head_out(0)[head], out)
        close(t.z(0)[head], want[head].expand_as(z[head]))
        close(t.contributions(0, 5, head=head).sum(0), out[5])
        close(t.attn_out(0), sum(want[h] @ W_O(llama.hf, 0, h, d_head) for h in range(4)).expand_as(out))
        close(t.resid(1), next_resid(llama.hf, clean, 0, want))  # the pass itself, not only the read-out
        for h in set(range(4)) - {head}:
            close(t.head_out(0, h), z[h] @ W_O(llama.hf, 0, h, d_head))


def test_forced_patterns_and_temperature_are_what_the_pass_used(llama):
    T = 3.0
    ivs = [force_pattern(0, 1, "previous"), force_pattern(0, 2, "self"), temperature(1, 3, T)]
    t = llama.model.trace(TEXT, interventions=ivs)
    n = t.n_tokens
    previous = torch.zeros(n, n)
    previous[torch.arange(n), (torch.arange(n) - 1).clamp(min=0)] = 1.0  # query 0 has no previous token: itself
    assert torch.equal(t.pattern(0, 1), previous) and torch.equal(t.layer_patterns(0)[1], previous)
    assert torch.equal(t.pattern(0, 2), torch.eye(n))
    v0 = values(t, 0)
    close(t.z(0)[1], v0[1][(torch.arange(n) - 1).clamp(min=0)])  # each query copies its previous token's value
    close(t.z(0)[2], v0[2])
    clean0 = softmax_patterns(t, 0)  # layer 0's input is the embeddings: its scores are the clean ones
    p0 = torch.stack([clean0[0], previous.double(), torch.eye(n).double(), clean0[3]])
    close(t.resid(1), next_resid(llama.hf, t, 0, p0.float() @ v0))
    hot = softmax_patterns(t, 1, T=T)  # layer 1: scores of this pass's own q, k, divided by T
    plain = softmax_patterns(t, 1)
    assert (t.pattern(1, 3) - hot[3]).abs().max() <= PATTERN_TOL
    assert (hot[3] - plain[3]).abs().max() > 0.05  # T = 3 visibly flattens the head
    assert (t.layer_patterns(1)[:3] - plain[:3]).abs().max() <= PATTERN_TOL  # the other heads are untouched
    p1 = torch.cat([plain[:3], hot[3:]])
    close(t.z(1), p1.float() @ values(t, 1))
    close(t.resid(2), next_resid(llama.hf, t, 1, p1.float() @ values(t, 1)))


def test_value_weighted_is_each_keys_weight_times_its_own_heads_sent_norm(llama, bert):
    for pair in (llama, bert):
        for ivs in ((), (ablate_head(1, 2),)):
            t = pair.model.trace(TEXT, interventions=ivs)
            d_head = t.config.d_head
            for layer in range(t.n_layers):
                p, v = softmax_patterns(t, layer), values(t, layer)
                for head in range(t.n_heads):
                    sent = (v[head] @ W_O(pair.hf, layer, head, d_head)).double().norm(dim=-1)  # (n_k,)
                    zeroed = bool(ivs) and (layer, head) == (1, 2)  # a zeroed head sends nothing
                    want = torch.zeros_like(p[head]) if zeroed else p[head] * sent[None, :]
                    close(t.value_weighted(layer, head), want)


@pytest.mark.parametrize("key", ["llama", "llama-bidir", "bert"])
def test_pattern_row_sums_add_up_the_patterns_rows(llama, bert, key):
    t = traces(llama, bert)[key]
    for layer in range(t.n_layers):
        want = row_sums(softmax_patterns(t, layer))
        for rows_per_chunk in (3, 64):  # a ragged last chunk and chunks starting past 0; one chunk
            got = t.pattern_row_sums(layer, rows_per_chunk)
            for name, value in want.items():
                assert got[name].shape == (t.n_heads,) and got[name].dtype == torch.float64
                diff = (got[name] - value).abs().max().item()
                assert diff <= SUM_TOL, (name, layer, rows_per_chunk, diff)


def test_a_forced_previous_token_heads_row_sums_are_known_exactly(llama):
    t = llama.model.trace(TEXT, interventions=[force_pattern(0, 1, "previous")])
    n = t.n_tokens
    for rows_per_chunk in (5, 64):
        sums = {name: value[1].item() for name, value in t.pattern_row_sums(0, rows_per_chunk).items()}
        assert sums == pytest.approx({"previous": n - 1, "first": 1.0, "entropy": 0.0, "distance": n - 1}, abs=1e-5)


@pytest.mark.parametrize("key", ["llama", "llama-bidir", "bert"])
def test_pooled_patterns_are_block_means_of_the_full_patterns(llama, bert, key):
    t = traces(llama, bert)[key]
    n = t.n_tokens
    full = torch.stack([softmax_patterns(t, layer) for layer in range(t.n_layers)])  # (L, h, n, n)
    ragged = False
    for size, rows_per_chunk in ((3, 4), (5, 7), (8, 64), (n + 3, 5)):
        width = math.ceil(n / size)
        s = math.ceil(n / width)
        ragged |= n % width != 0
        pooled = t.pooled_patterns(size=size, rows_per_chunk=rows_per_chunk)
        assert pooled.shape == (t.n_layers, t.n_heads, s, s)
        for a in range(s):
            for b in range(s):
                block = full[:, :, a * width : (a + 1) * width, b * width : (b + 1) * width].mean((-1, -2))
                assert (pooled[:, :, a, b] - block).abs().max() <= PATTERN_TOL, (size, a, b)
        assert (t.pooled_pattern(1, 3, size=size) - pooled[1, 3]).abs().max() <= 1e-6
    assert ragged  # some size leaves a narrower last block


def test_pooled_patterns_of_an_intervened_pass_are_block_means(llama):
    t = llama.model.trace(TEXT, interventions=[temperature(1, 0, 3.0)])
    n, width = t.n_tokens, 5
    full = softmax_patterns(t, 1, T=3.0)[0]
    pooled = t.pooled_patterns(size=math.ceil(n / width), rows_per_chunk=3, layers=[1], heads=slice(0, 1))[0, 0]
    for a in range(pooled.shape[0]):
        for b in range(pooled.shape[1]):
            block = full[a * width : (a + 1) * width, b * width : (b + 1) * width].mean()
            assert abs(pooled[a, b].item() - block.item()) <= PATTERN_TOL, (a, b)
