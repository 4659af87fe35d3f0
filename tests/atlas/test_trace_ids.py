"""Model.trace_ids runs the model on chosen token ids: the same ids as a text's give the same numbers."""

from __future__ import annotations

import pytest
import torch

from attention_core.api import load_model
from attention_core.errors import InputError
from tests.tiny_models import save_tiny_gpt2


def test_trace_ids_equals_trace_of_the_same_tokens_and_refuses_bad_ids(tmp_path):
    save_tiny_gpt2(tmp_path)
    model = load_model(str(tmp_path))
    by_text = model.trace("a fluffy blue creature")
    by_ids = model.trace_ids(by_text.token_ids)
    assert by_ids.tokens == by_text.tokens and by_ids.causal
    for layer in range(by_text.n_layers):
        torch.testing.assert_close(by_ids.layer_patterns(layer), by_text.layer_patterns(layer), rtol=0, atol=0)
    for bad in ([], [model.config.d_vocab], [-1]):
        with pytest.raises(InputError):
            model.trace_ids(bad)
