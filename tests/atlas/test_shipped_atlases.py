"""The shipped atlases are the models' own numbers: for every statistic, the best head's highest example and the
least head's lowest example are recomputed from scratch (trace the example's text, take the head's pattern, apply
the statistic) and must match the stored value and weights. Tolerance: 1e-5 (float32 patterns, values stored as
float64, weights rounded to 6 decimals), and for values past 1 (a mean distance in tokens reaches ~250) 1e-6 of the
value: one float32 step at 248 is 1.5e-5, and another CPU's vector width sums the same weights in another order (a
2026-12-02 machine got 247.77922 for the stored 247.77924)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from attention_core.atlas import statistics as st
from attention_core.atlas.documents import induction_ids
from services.atlas import SHIPPED, load_atlas

TOL, REL_TOL = 1e-5, 1e-6


def _recomputed(model, example, settings):
    if example["kind"] == "induction":
        ids, start = induction_ids(model, example["doc_id"], settings["induction_period"], settings["seed"])
        trace = model.trace_ids(ids)
    else:
        trace = model.trace(example["text"], max_tokens=settings["max_tokens"])
    return trace


@pytest.mark.parametrize("name", ["smollm2-135m", "minilm-l6"])
def test_shipped_atlas_examples_recompute_exactly(name, request):
    path = SHIPPED / f"{name}.parquet"
    assert path.is_file(), f"{path} must ship with the repository"
    model = request.getfixturevalue("smollm" if name.startswith("smollm") else "minilm")
    data = load_atlas(path)
    assert data.settings["corpus"] == "default" and data.settings["n_documents"] >= 900
    assert data.has_lowest  # each head's lowest examples too, for the table ranked lowest first
    ends = ((np.nanargmax, False), (np.nanargmin, True))  # the best head's highest example, the least's lowest
    for (s, stat), (pick, lowest) in itertools.product(enumerate(data.statistics), ends):
        layer, head = np.unravel_index(pick(data.values[s]), data.values[s].shape)
        examples = data.head_examples(stat, int(layer), int(head), lowest=lowest)
        assert examples, (stat, layer, head, lowest)
        example = examples[0]
        trace = _recomputed(model, example, data.settings)
        patterns = trace.layer_patterns(int(layer))  # [n_heads, n, n]
        if stat == "induction":
            _, start = induction_ids(model, example["doc_id"], data.settings["induction_period"], data.settings["seed"])
            values = st.induction(patterns, start, data.settings["induction_period"])
        else:
            values = st.text_statistics(patterns, torch.tensor(trace.token_ids), trace.causal)[stat]
        q = example["query"]
        want = pytest.approx(example["value"], abs=TOL, rel=REL_TOL)
        assert values.per_query[head, q].item() == want, (stat, layer, head)
        lo = example["window_start"]
        row = patterns[head, q, lo : lo + len(example["weights"])].numpy()
        np.testing.assert_allclose(row, example["weights"], atol=TOL)
        assert trace.tokens[lo : lo + len(example["tokens"])] == list(example["tokens"])
        k = example["key_window_start"]  # the key the value is about, when outside the window
        if k >= 0:
            assert k <= example["focus_key"] < k + len(example["key_tokens"])
            np.testing.assert_allclose(patterns[head, q, k : k + len(example["key_weights"])], example["key_weights"],
                                       atol=TOL)  # fmt: skip


@pytest.mark.parametrize("name", ["smollm2-135m", "minilm-l6"])
def test_shipped_atlases_are_of_todays_statistics(name):
    from attention_core.atlas.statistics import STATISTICS_VERSION

    assert load_atlas(SHIPPED / f"{name}.parquet").settings.get("statistics_version") == STATISTICS_VERSION
