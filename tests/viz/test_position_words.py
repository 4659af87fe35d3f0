"""The sentence that says how a model's heads get position, for DeBERTa's three layouts: v2/v3 project the relative
table with the layer's W_Q and W_K; v1 with projections of its own; either may add learned absolute positions to the
tokens too (position_biased_input), and then the sentence may not say the model has no position embeddings."""

from __future__ import annotations

from viz.views.position_words import position_bias_caption


def test_v2_and_v3_project_the_table_with_the_layers_w_q_and_w_k():
    said = position_bias_caption("disentangled", absolute_positions=False, causal=False, max_distance=512)
    assert "this layer's W_Q and W_K" in said and "no position embeddings" in said
    assert "logarithmically wider buckets up to 512" in said


def test_v1_projects_the_table_with_its_own_matrices():
    said = position_bias_caption("disentangled", False, False, 0, own_projections=True)
    assert "are this layer's own position projections (not its W_Q and W_K)" in said and "the furthest clamped" in said


def test_a_deberta_with_absolute_positions_says_it_has_them():
    said = position_bias_caption("disentangled", absolute_positions=True, causal=False, max_distance=0)
    assert "no position embeddings" not in said
    assert said.startswith("Besides the position embedding added to each token's embedding")
    assert "two terms" in said
