"""The head finder's duplicate-token and induction scores on hand-made patterns, where the answer is known exactly:
the atlas's definitions (attention_core.atlas.statistics) through the service (services.repeats) to the view
model's table and notes (viz.views.heads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core import load_model
from attention_core.atlas import statistics as st
from services.repeats import text_repeat_statistics
from viz.views.heads import (
    FEW_QUERIES,
    REPEAT_COLUMNS,
    REPEAT_EXAMPLE,
    RepeatScores,
    head_statistics,
    repeat_heading,
    repeat_help,
    repeat_notes,
    repeat_ranking,
    stats_table,
)

ABCABC = [11, 12, 13, 11, 12, 13]  # A B C A B C


def tiny(tmp_path_factory: pytest.TempPathFactory, arch: str):
    """A tiny random model (tests/gguf_writer.py: 2 layers, a 300-token byte-level BPE)."""
    pytest.importorskip("transformers")
    from tests.gguf_writer import save_tiny_gguf

    return load_model(str(save_tiny_gguf(tmp_path_factory.mktemp("gguf") / f"tiny-{arch}.gguf", arch)), device="cpu")


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory):
    return tiny(tmp_path_factory, "llama")  # no sliding window


@pytest.fixture(scope="module")
def tiny_gemma2(tmp_path_factory: pytest.TempPathFactory):
    return tiny(tmp_path_factory, "gemma2")  # layer 0 in a 4-token sliding window, layer 1 without one


def per_layer(counts: dict) -> dict[str, list[int]]:
    return {key: np.asarray(value).tolist() for key, value in counts.items()}


class PatternTrace:
    """A stand-in for a Trace with given patterns [n_layers, n_heads, n, n]: the public methods the service reads."""

    def __init__(self, token_ids: list[int], patterns: np.ndarray, window: int | None = None) -> None:
        self.token_ids, self.patterns = token_ids, torch.tensor(patterns, dtype=torch.float32)
        self.n_layers, self.n_heads, self.n_tokens = patterns.shape[0], patterns.shape[1], len(token_ids)
        self.attention_layers = tuple(range(self.n_layers))  # every layer has heads
        self.causal, self.window = True, window  # every layer in the same sliding window, or none
        self.segments = None  # one text (a pair adds the other-text share: tests/services/test_other_text_share.py)
        self.truncated, self.n_input_tokens = False, len(token_ids)  # the whole text, not cut by the token cap

    def mask(self, layer: int) -> torch.Tensor:
        return torch.tensor(allowed(self.n_tokens, self.window))

    def pattern_row_sums(self, layer: int, rows_per_chunk: int, marked: dict[str, torch.Tensor]) -> dict:
        """The marked keys' weight, summed over every row ([n_heads] float64); the other row sums are the engine's
        (tests/engine/test_invariants.py holds them to whole patterns) and this test does not read them."""
        return {name: (self.patterns[layer] * keys).sum(dim=(-1, -2)).double() for name, keys in marked.items()}


def allowed(n: int, window: int | None = None) -> np.ndarray:
    """[n, n] bool, the keys a causal query sees (in a sliding window: the `window` latest, itself included)."""
    offset = np.subtract.outer(np.arange(n), np.arange(n))  # i − j
    return (offset >= 0) & (offset < (window or n))


def uniform(n: int, window: int | None = None) -> np.ndarray:
    """[1, 1, n, n] one head spreading each query's weight evenly over the keys it sees."""
    seen = allowed(n, window).astype(np.float64)
    return (seen / seen.sum(axis=1, keepdims=True))[None, None]


def induction_pattern() -> np.ndarray:
    """One head on A B C A B C: the queries of the second copy put 0.7 on the token after their earlier copy (the
    induction target), 0.2 on the earlier copy itself (for A: on the first token, which duplicate-token leaves out)
    and 0.1 on themselves; the first copy spreads evenly over what it sees."""
    p = np.tril(np.ones((6, 6))) / np.arange(1, 7)[:, None]
    p[3:] = 0.0
    for query, target in [(3, 1), (4, 2), (5, 3)]:
        p[query, target], p[query, target - 1], p[query, query] = 0.7, 0.2, 0.1
    return p


def test_the_atlas_definitions_on_a_b_c_a_b_c() -> None:
    ids = torch.tensor(ABCABC)
    targets = st.induction_targets(ids)
    assert [tuple(map(int, k)) for k in targets.nonzero()] == [(3, 1), (4, 2), (5, 3)]
    p = torch.tensor(induction_pattern(), dtype=torch.float32)[None]
    induction = st.text_induction(p, ids)
    assert induction.n_queries == 3 and float(induction.sums[0]) / 3 == pytest.approx(0.7, abs=1e-6)
    duplicate = st.duplicate_token(p, ids)
    assert duplicate.n_queries == 2 and float(duplicate.sums[0]) / 2 == pytest.approx(0.2, abs=1e-6)  # B and C
    # A B C A B C is also the atlas's repeated sequence (start 0, period 3): the two induction scores agree.
    assert float(st.induction(p, 0, 3).sums[0]) == pytest.approx(float(induction.sums[0]), abs=1e-12)


def test_a_token_right_after_itself_is_no_induction_query() -> None:
    """x x: the token after the earlier copy is the query itself, which cannot be a prediction of what comes next."""
    assert not st.induction_targets(torch.tensor([5, 7, 7])).any()
    assert st.induction_targets(torch.tensor([7, 5, 7]))[2, 1]  # a copy at position 0 counts: its follower is no sink


def test_the_service_and_the_table_on_a_known_pattern() -> None:
    patterns = np.stack([induction_pattern(), uniform(6)[0, 0]])[None]  # 1 layer × 2 heads
    trace = PatternTrace(ABCABC, patterns)
    values, n_queries, n_in_text = text_repeat_statistics(trace)
    assert per_layer(n_queries) == {"duplicate": [2], "induction": [3]}
    assert n_in_text == {"duplicate": 2, "induction": 3}
    np.testing.assert_allclose(values["induction"][0], [0.7, np.mean([1 / 4, 1 / 5, 1 / 6])], atol=1e-6)
    np.testing.assert_allclose(values["duplicate"][0], [0.2, np.mean([1 / 5, 1 / 6])], atol=1e-6)
    scores = RepeatScores(values, n_queries, n_in_text)
    table = stats_table(head_statistics(patterns, causal=True), scores)
    assert table[REPEAT_COLUMNS["induction"]] == pytest.approx([0.7, np.mean([1 / 4, 1 / 5, 1 / 6])], abs=1e-6)
    assert [(row["layer"], row["head"]) for row in repeat_ranking(scores, "induction")] == [(0, 0), (0, 1)]
    assert repeat_heading(scores, "induction") == "Top 2 by induction share, each over 3 queries"
    assert repeat_help(scores, "duplicate").endswith("Here over 2 queries.")
    (few,) = repeat_notes(scores, trace)  # so few: said so, once for both
    assert "induction share averages over only 3 queries and the duplicate-token share averages over only 2" in few


def test_a_text_without_repeats_says_so_instead_of_a_score() -> None:
    ids = [1, 2, 3, 4]
    patterns = uniform(4)
    trace = PatternTrace(ids, patterns)
    values, n_queries, n_in_text = text_repeat_statistics(trace)
    assert per_layer(n_queries) == {"duplicate": [0], "induction": [0]} and np.isnan(values["induction"]).all()
    scores = RepeatScores(values, n_queries, n_in_text)
    table = stats_table(head_statistics(patterns, causal=True), scores)
    assert not set(REPEAT_COLUMNS.values()) & set(table)  # no column of NaN or zeros
    assert repeat_ranking(scores, "induction") == []
    (note,) = repeat_notes(scores, trace)
    assert note.startswith("No token repeats in this text, so there is no duplicate-token or induction score")
    assert "paste a text that repeats a phrase" in note


PASTE = (
    ": paste a text that repeats a phrase (a sentence written twice, a name used again, code that calls what it "
    "defined), or try the example below."
)
NO_INDUCTION = (
    "No token here repeats except right after itself (then the token after its earlier copy is the query itself), "
    "so there is no induction score"
)
NO_DUPLICATE = (
    "No token here repeats except the first token (a copy there does not count: weight on the first token is the "
    "sink's), so there is no duplicate-token score"
)
SAYS_LITTLE = ": a score over so few says little about a head's habit; a longer repeated passage says more."
THIRD, FIVE_TWELFTHS = 1 / 3, (1 / 3 + 2 / 4) / 2  # uniform weights: 1 key of query 2's 3; 1 of 3 and 2 of 4


@pytest.mark.parametrize(
    ("ids", "n_queries", "values", "notes"),
    [
        # the copy at position 0 is the sink's (no duplicate query); its follower 5 is query 2's induction target
        ([7, 5, 7], {"duplicate": 0, "induction": 1}, {"induction": THIRD},
         [NO_DUPLICATE + PASTE,
          "Few queries repeat here, so the induction share averages over only 1 query" + SAYS_LITTLE]),
        # a copy right before the query: a duplicate, but its follower is the query itself
        ([5, 7, 7], {"duplicate": 1, "induction": 0}, {"duplicate": THIRD},
         [NO_INDUCTION + PASTE,
          "Few queries repeat here, so the duplicate-token share averages over only 1 query" + SAYS_LITTLE]),
        ([7, 7], {"duplicate": 0, "induction": 0}, {}, [NO_INDUCTION + ".", NO_DUPLICATE + PASTE]),
        ([7, 7, 7, 7], {"duplicate": 2, "induction": 2}, {"duplicate": FIVE_TWELFTHS, "induction": FIVE_TWELFTHS},
         ["Few queries repeat here, so the induction share averages over only 2 queries and the duplicate-token "
          "share averages over only 2 queries" + SAYS_LITTLE]),
    ],
)  # fmt: skip
def test_a_texts_ids_give_its_counts_and_notes(ids, n_queries, values, notes) -> None:
    """From the token ids through the service (uniform causal weights) to the counts, scores and the page's notes."""
    trace = PatternTrace(ids, uniform(len(ids)))  # 1 layer × 1 head
    found, counts, in_text = text_repeat_statistics(trace)
    assert per_layer(counts) == {key: [count] for key, count in n_queries.items()} and in_text == n_queries
    for key in REPEAT_COLUMNS:
        want = values.get(key, np.nan)  # NaN: no query qualifies
        np.testing.assert_allclose(found[key], [[want]], atol=1e-6)
    scores = RepeatScores(found, counts, in_text)
    assert scores.shown == [key for key in REPEAT_COLUMNS if key in values]
    assert repeat_notes(scores, trace) == notes


def test_the_example_repeats_a_phrase_with_enough_queries_for_both_scores(tiny_llama) -> None:
    """The page's example, traced by a tiny model: both scores shown, over enough queries that no note excuses them."""
    trace = tiny_llama.trace(REPEAT_EXAMPLE)
    scores = RepeatScores(*text_repeat_statistics(trace))
    assert scores.shown == ["induction", "duplicate"]
    assert min(scores.n_in_text.values()) >= FEW_QUERIES
    assert all((scores.n_queries[key] == scores.n_in_text[key]).all() for key in REPEAT_COLUMNS)  # no window
    assert repeat_notes(scores, trace) == []


def _stats(n_layers: int, n_heads: int) -> dict[str, np.ndarray]:
    return {key: np.zeros((n_layers, n_heads)) for key in ("entropy", "prev", "first", "distance")}


# ── Sliding windows: a query qualifies in a layer only if that layer lets it see one of its marked keys ─────────────
def reference_means(trace, layer: int, marks: torch.Tensor) -> np.ndarray:
    """[n_heads] the mean over the queries that see some marked key in `layer` of their weight on those keys, written
    out query by query (NaN when no query does)."""
    patterns, seen = trace.layer_patterns(layer).double(), marks & trace.mask(layer)
    rows = [patterns[:, i, seen[i]].sum(dim=-1) for i in range(trace.n_tokens) if seen[i].any()]
    return torch.stack(rows).mean(dim=0).numpy() if rows else np.full(trace.n_heads, np.nan)


WINDOW_NOTE = (
    "In the sliding-window layers no {copy} lies inside the window (a query there sees only the latest tokens), so "
    "those layers have no {name} (empty in the table)."
)


def test_a_window_that_hides_every_copy_leaves_its_layer_without_a_score(tiny_gemma2) -> None:
    """The reviewer's case: in layer 0 (window 4) no earlier copy, nor its follower, is 8 or more tokens back."""
    trace = tiny_gemma2.trace("abcdefgh abcdefgh abcdefgh")
    assert [trace.window(layer) for layer in range(trace.n_layers)] == [4, None] and trace.n_tokens == 24
    values, n_queries, n_in_text = text_repeat_statistics(trace)
    assert per_layer(n_queries) == {"duplicate": [0, 15], "induction": [0, 15]} and n_in_text == {
        "duplicate": 15, "induction": 15}  # fmt: skip
    ids = torch.tensor(trace.token_ids)
    for key, marks in (("duplicate", st.earlier_copies(ids)), ("induction", st.induction_targets(ids))):
        assert np.isnan(values[key][0]).all()
        np.testing.assert_allclose(values[key][1], reference_means(trace, 1, marks), atol=1e-6)
    scores = RepeatScores(values, n_queries, n_in_text)
    assert repeat_heading(scores, "induction") == (
        "Top 2 by induction share, each over 15 queries (none in the sliding-window layers)"
    )
    assert sorted((row["layer"], row["head"]) for row in repeat_ranking(scores, "duplicate")) == [(1, 0), (1, 1)]
    assert repeat_notes(scores, trace) == [
        WINDOW_NOTE.format(copy="token that followed an earlier copy of a query's token", name="induction share"),
        WINDOW_NOTE.format(copy="earlier copy of a query's token", name="duplicate-token share"),
    ]


def test_a_window_that_hides_some_copies_counts_its_layers_queries_apart(tiny_gemma2) -> None:
    trace = tiny_gemma2.trace("abcabcabc abcabc")  # a b c a b c a b c ␣a b c a b c: 15 tokens
    values, n_queries, n_in_text = text_repeat_statistics(trace)
    assert per_layer(n_queries) == {"duplicate": [9, 10], "induction": [10, 11]}
    assert n_in_text == {"duplicate": 10, "induction": 11}
    ids = torch.tensor(trace.token_ids)
    for key, marks in (("duplicate", st.earlier_copies(ids)), ("induction", st.induction_targets(ids))):
        for layer in range(trace.n_layers):
            np.testing.assert_allclose(values[key][layer], reference_means(trace, layer, marks), atol=1e-6)
    scores = RepeatScores(values, n_queries, n_in_text)
    assert repeat_heading(scores, "induction") == (
        "Top 4 by induction share, each over 11 queries (10 in the sliding-window layers)"
    )
    assert repeat_help(scores, "duplicate").endswith("Here over 10 queries (9 in the sliding-window layers).")
    assert repeat_notes(scores, trace) == []


def test_a_model_whose_every_layer_has_a_window() -> None:
    """Mistral-like: one layer, window 3, on 1 2 3 1 5 6 2. Query 3's follower (key 1) is in the window, query 6's
    (key 2) is not; the duplicate queries' copies (query 6's at 1; query 3's at 0 is the sink's) are not."""
    ids = [1, 2, 3, 1, 5, 6, 2]
    trace = PatternTrace(ids, uniform(7, window=3), window=3)
    values, n_queries, n_in_text = text_repeat_statistics(trace)
    assert per_layer(n_queries) == {"duplicate": [0], "induction": [1]}
    assert n_in_text == {"duplicate": 1, "induction": 2}
    np.testing.assert_allclose(values["induction"], [[1 / 3]], atol=1e-6)  # query 3 sees keys 1, 2, 3 evenly
    scores = RepeatScores(values, n_queries, n_in_text)
    assert scores.shown == ["induction"]
    heading = "Top 1 by induction share, each over 1 query (2 without the sliding window)"
    assert repeat_heading(scores, "induction") == heading
    assert repeat_notes(scores, trace) == [
        "No earlier copy of a query's token lies inside the sliding window (a query sees only the latest tokens), so "
        "there is no duplicate-token share.",
        "Few queries repeat here, so the induction share averages over only 1 query (2 without the sliding window)"
        + SAYS_LITTLE,
    ]


# ── A text the token cap cut: the notes speak of the tokens read, not of the text ───────────────────────────────────
MOLES = "one mole of carbon dioxide, one mole of carbon dioxide"  # tiny Llama: 27 tokens, the repeat from token 14


def test_a_text_cut_before_its_repeat_blames_the_token_cap_not_the_text(tiny_llama) -> None:
    trace = tiny_llama.trace(MOLES, max_tokens=6)  # o ne ␣mole ␣of ␣c ar: nothing repeats yet
    assert trace.truncated and trace.n_input_tokens == 27
    assert repeat_notes(RepeatScores(*text_repeat_statistics(trace)), trace) == [
        "No token repeats in the 6 tokens read (the token cap cut the text), so there is no duplicate-token or "
        "induction score: raise the token cap (sidebar) to read the rest of the text, paste a text that repeats a "
        "phrase sooner, or try the example below."
    ]
    whole = tiny_llama.trace(MOLES)
    assert not whole.truncated and repeat_notes(RepeatScores(*text_repeat_statistics(whole)), whole) == []


def test_a_cut_text_s_few_repeats_are_said_to_be_in_the_tokens_read(tiny_llama) -> None:
    trace = tiny_llama.trace(MOLES, max_tokens=16)  # … , ␣o ne: "ne" repeats once, after "o" (not "␣o")
    scores = RepeatScores(*text_repeat_statistics(trace))
    assert scores.n_in_text == {"duplicate": 1, "induction": 1}
    assert repeat_notes(scores, trace) == [
        "Few queries repeat in the 16 tokens read (the token cap cut the text), so the induction share averages over "
        "only 1 query and the duplicate-token share averages over only 1 query" + SAYS_LITTLE
    ]
