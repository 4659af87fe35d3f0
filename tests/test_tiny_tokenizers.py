"""The tiny test models' tokenizers are the same in every process: a vocabulary that changes between runs gives
the tiny models other ids for the same text, and a test about what a random model writes then passes on one
machine and fails on another (CI, 2026-12-05: tiny T5 wrote its end-of-sequence token at step 7 of 12)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.tiny_tokenizers import byte_bpe, merged_pieces, sentencepiece_unigram, wordpiece

ROOT = Path(__file__).resolve().parents[1]
BUILDERS = {"wordpiece": wordpiece, "sentencepiece_unigram": sentencepiece_unigram, "byte_bpe": byte_bpe}


def _built_elsewhere(name: str) -> str:
    code = f"from tests.tiny_tokenizers import {name}; print({name}(300).to_str())"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_two_processes_build_the_same_tokenizer(name):
    """Three builds, two of them in fresh processes (each seeds its own hash maps): one vocabulary, one layout.
    The trainer-built WordPiece and Unigram differed in 4 runs out of 4."""
    here = BUILDERS[name](300).to_str()
    assert _built_elsewhere(name) == here == _built_elsewhere(name)


def test_merges_take_the_most_frequent_pair_and_break_ties_by_the_pair():
    learned = merged_pieces(Counter({"abab": 3, "abc": 1, "cd": 2}), budget=8)
    assert learned[:4] == [("a", 7), ("b", 7), ("c", 3), ("d", 2)]  # characters first, by count, then by name
    assert learned[4:] == [("ab", 7), ("abab", 3), ("cd", 2), ("abc", 1)]  # each merge on the last one's words


def test_wordpiece_glue_marks_later_pieces_and_ties_go_in_string_order():
    learned = merged_pieces(Counter({"xy": 2, "ab": 2}), budget=10, glue="##")
    assert dict(learned[:8]) == {"a": 2, "##b": 2, "x": 2, "##y": 2, "##a": 0, "b": 0, "##x": 0, "y": 0}
    assert learned[8:] == [("ab", 2), ("xy", 2)]  # a tie: ('a', '##b') < ('x', '##y')
