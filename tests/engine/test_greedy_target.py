"""An encoder-decoder writes its own target (`Model.greedy_target`): the same tokens as transformers' greedy
`generate` (num_beams=1, no sampling) on tiny random Marian, T5, BART, mBART and Pegasus checkpoints, token for
token. transformers' generate is told what ours does and its defaults might add: no forced EOS at the budget's end,
the start token suppressed unless it is EOS (Marian's generation config bans its padding, T5's and Pegasus's start
token), BART's forced first token kept. Exact ids: greedy argmax over logits equal to 1e-3 (tests/engine/
test_hf_bart.py, test_hf_t5.py) picks the same token unless two logits tie that closely, which these seeds do not.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import load_model
from attention_core.errors import InputError
from tests.tiny_models import save_tiny_marian, save_tiny_t5
from tests.tiny_models_seq2seq import save_tiny_seq2seq

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

SOURCE = "the quick brown fox jumps over the lazy dog"
NEW_TOKENS = 12


def _saved(kind: str, folder):
    if kind == "marian":
        return save_tiny_marian(folder)
    if kind == "t5":
        return save_tiny_t5(folder, "gated-gelu")
    return save_tiny_seq2seq(kind, folder)


@pytest.fixture(scope="module", params=["marian", "t5", "bart", "mbart", "pegasus", "m2m_100", "plbart", "blenderbot"])
def pair(request, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp(f"cache-{request.param}")))
    folder = tmp_path_factory.mktemp(f"greedy-{request.param}")
    hf = _saved(request.param, folder)
    yield request.param, hf, load_model(str(folder), device="cpu")
    mp.undo()


def _transformers_greedy(hf, ours, source_ids: list[int], n: int) -> list[int]:
    cfg = ours.config
    start, eos = cfg.decoder_start_token_id or 0, cfg.eos_token_id
    with torch.inference_mode():
        out = hf.generate(
            input_ids=torch.tensor([source_ids]), do_sample=False, num_beams=1, max_new_tokens=n, min_length=0,
            no_repeat_ngram_size=0, forced_eos_token_id=None, forced_bos_token_id=cfg.forced_bos_token_id,
            suppress_tokens=None if start == eos else [start], decoder_start_token_id=start, bad_words_ids=None,
        )  # fmt: skip
    assert out[0, 0].item() == start
    return out[0, 1:].tolist()


def test_the_written_tokens_are_transformers_greedy_ones(pair):
    kind, hf, ours = pair
    written = ours.greedy_target(SOURCE, NEW_TOKENS)
    source_ids = ours.trace(SOURCE).token_ids
    assert list(written.token_ids) == _transformers_greedy(hf, ours, source_ids, NEW_TOKENS)
    assert len(written.token_ids) == NEW_TOKENS and not written.finished  # random weights: no EOS in 12 tokens
    if kind == "t5":  # the others' random weights settle on one token; T5's keep changing, so a step reading the
        assert len(set(written.token_ids)) > 3  # wrong position or a stale target would show against transformers
    if kind == "bart":  # its config forces <s> first
        assert written.token_ids[0] == 0 == ours.config.forced_bos_token_id
    assert written.text == ours.tokenizer.tokenizer.decode(list(written.token_ids), skip_special_tokens=True)


def test_it_stops_at_the_end_of_sequence_token(pair):
    """Made the end-of-sequence token (in our config and in transformers' generate), a token the model writes at
    step k ends the target there, both ways."""
    import dataclasses

    from attention_core.api import Model

    _, hf, ours = pair
    free = ours.greedy_target(SOURCE, NEW_TOKENS).token_ids
    k = 1 if free[0] == ours.config.forced_bos_token_id else 0  # BART's forced <s> is not predicted
    stop = free[k]
    config = dataclasses.replace(ours.config, eos_token_id=stop)
    pushed = Model(config, ours.weights, ours.tokenizer.tokenizer, ours.device)
    written = pushed.greedy_target(SOURCE, NEW_TOKENS)
    assert written.finished and written.token_ids == free[: k + 1]
    start = config.decoder_start_token_id or 0
    with torch.inference_mode():
        out = hf.generate(
            input_ids=torch.tensor([ours.trace(SOURCE).token_ids]), do_sample=False, num_beams=1,
            max_new_tokens=NEW_TOKENS, min_length=0, no_repeat_ngram_size=0, forced_eos_token_id=None,
            forced_bos_token_id=config.forced_bos_token_id, suppress_tokens=[start], decoder_start_token_id=start,
            eos_token_id=stop, bad_words_ids=None,
        )  # fmt: skip
    assert out[0, 1:].tolist() == list(written.token_ids)


def test_the_budget_is_checked_and_decoders_are_sent_elsewhere(pair):
    _, _, ours = pair
    for bad in (0, ours.max_tokens):
        with pytest.raises(InputError, match="new tokens"):
            ours.greedy_target(SOURCE, bad)
    with pytest.raises(InputError, match="greedy_target"):
        ours.generate(SOURCE, max_new_tokens=2)
    with pytest.raises(InputError, match="not an encoder-decoder"):
        load_model("minilm-l6").greedy_target("a", 2)
