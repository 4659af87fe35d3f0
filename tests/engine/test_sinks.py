"""GPT-OSS's attention sinks (attention_core/model.py: softmax_keys): one learned logit per head joins each query's
softmax as a key without a value. Parity with transformers on a tiny GPT-OSS is in test_hf_architectures_modern.py (kind
"gpt_oss"); these check the softmax itself and what the trace's views make of it.

Tolerances: 1e-6 for float32 softmaxes computed two ways; 1e-5 for a row's sum against 1 − its sink's share.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import interventions as iv
from attention_core.model import softmax_keys

TOL = 1e-6
ROW_TOL = 1e-5


def transformers_way(scores: torch.Tensor, sinks: torch.Tensor) -> torch.Tensor:
    """transformers' GPT-OSS eager attention: the sink as one more column, shifted by the row max, then dropped."""
    column = sinks.reshape(-1, 1, 1).expand(-1, scores.shape[-2], 1)
    logits = torch.cat([scores, column], dim=-1)
    logits = logits - logits.max(dim=-1, keepdim=True).values
    return torch.softmax(logits, dim=-1)[..., :-1]


def test_a_sink_is_one_more_term_in_each_rows_softmax() -> None:
    torch.manual_seed(0)
    scores, sinks = torch.randn(3, 5, 7) * 3, torch.randn(3) * 2
    ours = softmax_keys(scores, sinks)
    assert (ours - transformers_way(scores, sinks)).abs().max() <= TOL
    share = torch.sigmoid(sinks[:, None] - torch.logsumexp(scores, dim=-1))  # (3, 5) what each sink takes
    assert (ours.sum(-1) - (1 - share)).abs().max() <= ROW_TOL
    assert (ours.sum(-1) < 1).all()
    one = softmax_keys(scores[1], sinks[1])  # one head's (n_q, n_k) with its 0-dim sink
    assert (one - ours[1]).abs().max() <= TOL
    assert torch.equal(softmax_keys(scores), torch.softmax(scores, dim=-1))  # no sinks: the plain softmax


def test_a_temperature_divides_the_sinks_logit_as_every_other() -> None:
    torch.manual_seed(1)
    scores, sink = torch.randn(6, 6), torch.tensor(0.7)
    hot = iv.modified_pattern(scores, True, iv.temperature(0, 0, 2.0), sinks=sink)
    masked = scores.masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), float("-inf"))
    assert (hot - softmax_keys(masked / 2.0, sink / 2.0)).abs().max() <= TOL
    forced = iv.modified_pattern(scores, True, iv.force_pattern(0, 0, "previous"), sinks=sink)
    assert torch.equal(forced.sum(-1), torch.ones(6))  # a forced pattern is the one asked for, sink or not


@pytest.fixture(scope="module")
def gpt_oss(tmp_path_factory):
    from attention_core import load_model
    from tests.tiny_models import save_tiny

    folder = tmp_path_factory.mktemp("gpt_oss")
    hf = save_tiny("gpt_oss", folder)
    sinks = [layer.self_attn.sinks.detach().clone() for layer in hf.model.layers]  # the checkpoint's, per layer
    return load_model(str(folder)), sinks


def test_every_view_of_a_sink_models_pattern_is_the_same_and_rows_sum_below_one(gpt_oss) -> None:
    model, sinks = gpt_oss
    trace = model.trace("the blue creature took a mole of the forest")
    for layer in range(model.config.n_layers):
        every = trace.layer_patterns(layer)  # (n_heads, n, n)
        masked = torch.stack([trace.masked_scores(layer, h) for h in range(model.config.n_heads)])
        share = torch.sigmoid(sinks[layer][:, None] - torch.logsumexp(masked, dim=-1))  # (n_heads, n)
        assert (every.sum(-1) - (1 - share)).abs().max() <= ROW_TOL
        assert share.max() > 0.1  # the sinks drawn at std 1 take a visible share somewhere
        for head in range(model.config.n_heads):
            assert (trace.pattern(layer, head) - every[head]).abs().max() <= TOL
        n = trace.n_tokens
        pooled = trace.pooled_patterns(size=n, layers=[layer])[0]  # blocks of one token: the pattern itself
        assert (pooled - every).abs().max() <= TOL
    steps = trace.head_steps(1, 2)
    assert steps.sink == pytest.approx(float(sinks[1][2]))
    assert steps.sink is not None
    cell = steps.cell(3, 1)
    assert cell["sink_term"] > 0 and abs(cell["numerator"] / cell["denominator"] - cell["weight"]) <= TOL


def test_the_patterns_pages_sink_bars_are_what_each_row_leaves_to_the_sink(gpt_oss) -> None:
    """viz.views.patterns.sink_shares: 1 − each query's row sum, the sink's own share (checked against the
    sinks' logits), and 0 for a model without sinks."""
    import numpy as np

    from viz.views.patterns import sink_shares

    model, sinks = gpt_oss
    trace = model.trace("the blue creature took a mole of the forest")
    masked = trace.masked_scores(1, 3)
    expected = torch.sigmoid(sinks[1][3] - torch.logsumexp(masked, dim=-1)).numpy()
    shares = sink_shares(trace.pattern(1, 3).numpy())
    assert np.abs(shares - expected).max() <= ROW_TOL
    assert np.all(sink_shares(np.eye(4)) == 0)  # rows that sum to 1 leave nothing


def test_a_temperature_on_a_sink_models_head_reaches_every_view_alike(gpt_oss) -> None:
    """An intervention takes the per-head path (recompute.patterns → modified_pattern): the head's own sink goes
    with it, and the other heads keep theirs."""
    model, sinks = gpt_oss
    text = "the blue creature took a mole of the forest"
    clean, hot = model.trace(text), model.trace(text, interventions=[iv.temperature(1, 2, 3.0)])
    every = hot.layer_patterns(1)
    masked = hot.masked_scores(1, 2)
    assert (every[2] - softmax_keys(masked / 3.0, sinks[1][2] / 3.0)).abs().max() <= TOL
    assert (hot.pattern(1, 2) - every[2]).abs().max() <= TOL
    assert (every[0] - clean.layer_patterns(1)[0]).abs().max() <= TOL  # head 0 untouched, its sink kept
    assert (every[0].sum(-1) < 1).any()


def test_a_gpt_oss_without_attention_biases_loads_and_matches_transformers(tmp_path) -> None:
    """attention_bias false: the converter must not ask the checkpoint for q/k/v/o biases it does not hold."""
    import transformers

    from attention_core import load_model
    from tests.tiny_models import byte_bpe

    torch.manual_seed(0)
    cfg = transformers.GptOssConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, num_local_experts=4, num_experts_per_tok=2, attention_bias=False,
        max_position_embeddings=128, pad_token_id=0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    hf = transformers.GptOssForCausalLM(cfg).eval()
    hf.save_pretrained(tmp_path)
    byte_bpe(300).save(str(tmp_path / "tokenizer.json"))
    ours = load_model(str(tmp_path))
    trace = ours.trace("the blue creature took a mole")
    with torch.inference_mode():
        theirs = hf(torch.tensor([trace.token_ids])).logits[0]
    assert (trace.logits - theirs).abs().max() <= 1e-3  # logits, as in test_hf_architectures_modern
