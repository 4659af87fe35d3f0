"""Parameter counts: 3Blue1Brown's GPT-3 numbers, and loaded models' exact tensors."""

from attention_core.params import GPT3, attention_breakdown, attention_parameters, model_parameters


def test_gpt3_attention_parameters():
    assert attention_parameters(d_model=12288, d_head=128, n_heads=96, n_layers=96) == 57_982_058_496


def test_gpt3_breakdown_per_head_and_layer():
    b = attention_breakdown(d_model=12288, d_head=128, n_heads=96, n_layers=96)
    assert b["per_head_each"] == 1_572_864  # query, key, value-down, value-up, each
    assert b["per_layer"] == 603_979_776
    assert b["total"] == 57_982_058_496


def test_gpt3_total_is_about_175_billion():
    counts = model_parameters(**GPT3)
    assert counts["total"] == 175_181_291_520  # the chapter's tally: embeddings, attention, MLP, unembedding
    assert counts["attention"] == 57_982_058_496
    assert abs(counts["attention"] / counts["total"] - 1 / 3) < 0.005


def test_grouped_query_attention_counts_keys_and_values_once_per_kv_head():
    # SmolLM2-135M: 30 layers, 9 query heads and 3 key/value heads of 64 over d_model 576.
    assert attention_parameters(576, 64, 9, 30, n_kv_heads=3) == 30 * 576 * 64 * (2 * 9 + 2 * 3)


def test_loaded_counts_equal_their_tensors(smollm, minilm):
    for model in (smollm, minilm):
        counts = model.parameter_counts()
        total = sum(t.numel() for t in model.weights.values())
        assert counts["total"] == total
        assert sum(v for k, v in counts.items() if k != "total") == total
        per_layer = model.parameter_counts_per_layer()
        assert len(per_layer) == model.config.n_layers
        in_blocks = sum(sum(row.values()) for row in per_layer)
        outside = sum(t.numel() for k, t in model.weights.items() if not k.startswith("blocks."))
        assert in_blocks + outside == total
    cfg = smollm.config
    c = smollm.parameter_counts()
    assert c["attention.W_Q"] == attention_parameters(cfg.d_model, cfg.d_head, cfg.n_heads, cfg.n_layers) // 4
    assert c["attention.W_K"] == cfg.n_layers * cfg.d_model * cfg.d_head * cfg.n_kv_heads
    assert c["total"] == 134_515_008
    assert minilm.parameter_counts()["total"] == 22_565_376


def test_each_attention_tensor_is_counted_under_its_own_name():
    """A model with q/k RMSNorm (Qwen3, OLMo 2) has blocks.L.attn.q_norm.w and k_norm.w: counted by their last part
    alone, both fell into one "attention.w" row of the Parameters page."""
    import torch

    from attention_core.params import count_weights

    weights = {
        "blocks.0.attn.W_Q": torch.zeros(8, 4), "blocks.0.attn.q_norm.w": torch.zeros(4),
        "blocks.0.attn.k_norm.w": torch.zeros(2), "blocks.1.attn.k_norm.w": torch.zeros(2),
        "blocks.0.cross.W_K": torch.zeros(8, 4), "blocks.0.mlp.W_in": torch.zeros(3),
    }  # fmt: skip
    counts = count_weights(weights)
    assert counts == {
        "attention.W_Q": 32, "attention.q_norm.w": 4, "attention.k_norm.w": 4, "cross_attention.W_K": 32, "mlp": 3,
        "total": 75,
    }  # fmt: skip
