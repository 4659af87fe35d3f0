"""A tokenizer that appends a special token after the text (a GGUF with tokenizer.ggml.add_eos_token: every trace
ends in EOS): the prediction "after the text" is the one at the text's own last token, not after the EOS, and the
EOS is never called the token that comes next in the text. A tiny llama GGUF rewritten with add_eos_token (the
reviewer's reproduction), beside the same file without it."""

from __future__ import annotations

import pytest

from viz.views import experiments as vx

pytest.importorskip("transformers")

TEXT = "the cat sat"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import gguf

    from tests.gguf_writer import rewrite_gguf, save_tiny_gguf

    folder = tmp_path_factory.mktemp("gguf")
    plain = save_tiny_gguf(folder / "tiny.gguf")
    eos_field = {"tokenizer.ggml.add_eos_token": (True, gguf.GGUFValueType.BOOL)}
    eos = rewrite_gguf(plain, folder / "tiny-eos.gguf", eos_field)
    return plain, eos


def trace_of(path):
    from attention_core import load_model

    model = load_model(str(path), device="cpu")
    return model, model.trace(TEXT)


def test_the_text_ends_before_the_appended_eos(files) -> None:
    model, trace = trace_of(files[1])
    n, eos = trace.n_tokens, model.config.eos_token_id
    assert trace.token_ids[-1] == eos and trace.offsets[-1] == (0, 0)  # appended, spanning no text
    assert vx.text_end(trace) == n - 2 and trace.offsets[n - 2][1] == len(TEXT)  # " sat"'s last piece
    _plain_model, plain = trace_of(files[0])
    assert plain.token_ids == trace.token_ids[:-1] and vx.text_end(plain) == plain.n_tokens - 1  # no EOS: the last


def test_the_eos_is_not_the_token_that_comes_next_in_the_text(files) -> None:
    model, trace = trace_of(files[1])
    end, eos = vx.text_end(trace), model.config.eos_token_id
    assert vx.next_in_text(trace, end - 1) == trace.token_ids[end]  # inside the text: as before
    assert vx.next_in_text(trace, end) is None  # after the text's last token, the text has nothing more
    assert vx.added_after(trace, end) == eos  # what the tokenizer put there, named as such
    assert vx.added_after(trace, end - 1) is None and vx.added_after(trace, end + 1) is None


def test_titles_name_the_texts_end_and_the_added_token_for_what_they_are(files) -> None:
    _model, trace = trace_of(files[1])
    end = vx.text_end(trace)
    assert vx.prediction_place(trace, end) == "“the cat sat”"  # the prediction after the text
    after_eos = vx.prediction_place(trace, end + 1)
    assert "the cat sat" not in after_eos and "added" in after_eos and f"(token {end + 1})" in after_eos, after_eos
