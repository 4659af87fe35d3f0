"""The atlas's examples (each head's highest and lowest) on a tiny random GPT-2 (causal): chosen where a query
has keys to choose from, and each carries the key its value is about, with the weights around that key when it
lies outside the strip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core.api import load_model
from attention_core.atlas import job
from attention_core.atlas import statistics as st
from attention_core.atlas.corpus import Document
from attention_core.atlas.documents import MIN_EXAMPLE_KEYS, first_example_query, induction_ids
from tests.tiny_models import CORPUS, save_tiny_gpt2

TOL = 1e-6  # weights are stored rounded to 6 decimals


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-gpt2-examples")
    save_tiny_gpt2(folder)
    settings = job.AtlasSettings(
        str(folder), max_tokens=64, seed=3, induction_sequences=2, induction_period=20, batch_size=4
    )
    docs = [Document(i, " ".join(CORPUS[i : i + 4])) for i in range(4)]  # ~40 tokens each
    stats, examples = job.reduce_rows(job.run_in_process(job.work_items(docs, settings), settings), len(docs), 2)
    return load_model(str(folder)), settings, examples


def _row(model, settings, example) -> np.ndarray:
    if example["kind"] == "induction":
        ids, _ = induction_ids(model, example["doc_id"], settings.induction_period, settings.seed)
        trace = model.trace_ids(ids)
    else:
        trace = model.trace(example["text"], max_tokens=settings.max_tokens)
    return trace.pattern(example["layer"], example["head"])[example["query"]].numpy()


def test_causal_text_examples_come_from_queries_with_keys_to_choose_from(atlas) -> None:
    """Query 0 sees only itself (self = 1) and query 1 splits two keys (entropy = 1): every example came from
    there before; now from queries that see at least MIN_EXAMPLE_KEYS keys."""
    _, _, examples = atlas
    text = [e for e in examples if e["kind"] == "text"]
    assert {e["statistic"] for e in text} == {"previous_token", "first_token", "self", "entropy", "mean_distance",
                                              "duplicate_token"}  # fmt: skip
    assert min(e["query"] for e in text) >= MIN_EXAMPLE_KEYS - 1


def test_each_example_names_the_key_its_value_is_about(atlas) -> None:
    model, settings, examples = atlas
    rules = {"previous_token": lambda q: q - 1, "first_token": lambda q: 0, "self": lambda q: q,
             "induction": lambda q: q - settings.induction_period + 1}  # fmt: skip
    outside = 0
    for e in examples:
        q, focus = e["query"], e["focus_key"]
        if e["statistic"] in rules:
            assert focus == rules[e["statistic"]](q), e
        row = _row(model, settings, e)
        if e["statistic"] in ("entropy", "mean_distance"):
            assert row[focus] == pytest.approx(row.max(), abs=TOL)
        if e["statistic"] == "duplicate_token":  # the strongest earlier copy, never the first token (the sink's)
            ids = model.trace(e["text"], max_tokens=settings.max_tokens).token_ids
            copies = [j for j in range(1, q) if ids[j] == ids[q]]
            assert focus in copies and row[focus] == pytest.approx(max(row[j] for j in copies), abs=TOL)
        lo, end = e["window_start"], e["window_start"] + len(e["tokens"])
        if lo <= focus < end:
            assert e["key_window_start"] == -1 and e["key_tokens"] == [] and e["key_weights"] == []
            continue
        outside += 1
        k = e["key_window_start"]
        assert k <= focus < k + len(e["key_tokens"]) and not (lo <= k < end)  # apart from the query's window
        np.testing.assert_allclose(e["key_weights"], row[k : k + len(e["key_tokens"])], atol=TOL)
    assert outside > 0  # induction keys (20 back) and mean distance's strongest keys lie outside the strip


def test_each_head_keeps_its_lowest_examples_beside_its_highest(atlas) -> None:
    """Ranked lowest first (entropy: the most focused heads), a head showed its highest-value queries: the most
    spread ones. The job now keeps both ends: the lowest are the smallest values over every qualifying example
    query of every document, ascending, each the model's own number at that query."""
    model, settings, examples = atlas
    by_head: dict[tuple, dict[str, list[dict]]] = {}
    for e in examples:
        by_head.setdefault((e["layer"], e["head"], e["statistic"]), {}).setdefault(e["end"], []).append(e)
    assert by_head and all(set(ends) == {"highest", "lowest"} for ends in by_head.values()), by_head.keys()
    for ends in by_head.values():
        low, high = ends["lowest"], ends["highest"]
        assert [e["rank"] for e in low] == list(range(len(low))) == [e["rank"] for e in high]
        assert [e["value"] for e in low] == sorted(e["value"] for e in low) and low[0]["value"] <= high[-1]["value"]
    texts = [model.trace(" ".join(CORPUS[i : i + 4]), max_tokens=settings.max_tokens) for i in range(4)]
    for layer, head in ((0, 0), (1, 2)):
        values = []
        for trace in texts:
            per_query = st.text_statistics(trace.layer_patterns(layer), torch.tensor(trace.token_ids), True)
            found = per_query["entropy"].per_query[head, first_example_query("entropy", True) :]
            values += [float(v) for v in found if np.isfinite(float(v))]
        lowest = by_head[(layer, head, "entropy")]["lowest"][0]
        assert lowest["value"] == pytest.approx(min(values), abs=TOL)
        row = _row(model, settings, lowest)
        assert row[lowest["focus_key"]] == pytest.approx(row.max(), abs=TOL)  # entropy's focus: the strongest key
