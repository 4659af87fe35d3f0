"""The table of token mixers (attention_core/mixers.py KINDS): every kind the config names has a row, and each row's
three functions agree on a tiny random model of that kind (tests.tiny_models_hybrid): the pass's `run`,
generation's `step` in two chunks from the carried state, and the contribution graph's `source_terms`, which add up
to the output at a query. Tolerance: 1e-4 (float32; a chunked or unrolled scan against the pass's own)."""

from __future__ import annotations

import pytest
import torch

from attention_core import blocks, dotted_names, load_model, mixers
from attention_core.config import MIXER_PHRASES, MIXER_WORDS
from tests.tiny_models_hybrid import (
    save_tiny_jamba,
    save_tiny_lfm2,
    save_tiny_nemotron_h,
    save_tiny_qwen3_5,
    save_tiny_recurrent_gemma,
)

TOL = 1e-4
TEXT = "the blue creature took a mole of the forest, and the fox jumps over the lazy dog"
# a tiny model with each kind, by its builder
MODELS = {"short_conv": save_tiny_lfm2, "gated_delta": save_tiny_qwen3_5, "ssm": save_tiny_nemotron_h,
          "selective_scan": save_tiny_jamba, "rg_lru": save_tiny_recurrent_gemma}  # fmt: skip


def test_every_kind_the_config_names_has_a_row_with_words_and_a_dotted_name():
    named = set(MIXER_WORDS) - {"attention", "none"}
    assert named == set(mixers.KINDS) == set(MIXER_PHRASES) - {"none"} == set(MODELS)
    for kind in mixers.KINDS.values():
        assert f"blocks.l.{kind.output} " in dotted_names.__doc__


@pytest.mark.parity
@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_kinds_step_and_source_terms_agree_with_its_run(name, tmp_path_factory, monkeypatch):
    pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp(name)
    MODELS[name](folder)
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    model = load_model(str(folder), device="cpu")
    cfg, w = model.config, model.weights
    layer = next(i for i in range(cfg.n_layers) if cfg.mixers[i] == name)
    kind = mixers.kind(cfg, layer)
    trace = model.trace(TEXT)
    x_in = blocks.attention_input(trace.captured.resid_pre[layer], w, layer, cfg)  # (n, d_model)
    whole = kind.run(x_in, w, layer, cfg)  # (n, d_model)
    assert (whole - trace.attn_out(layer)).abs().max() <= TOL
    split = trace.n_tokens // 2
    first, state = kind.step(x_in[:split], w, layer, cfg, None)
    second, _ = kind.step(x_in[split:], w, layer, cfg, state)
    assert (torch.cat([first, second]) - whole).abs().max() <= TOL
    for query in (0, split, trace.n_tokens - 1):
        sources, terms, constant = kind.source_terms(x_in, w, layer, cfg, query)
        assert int(sources.max()) == query and terms.shape == (len(sources), cfg.d_model)
        assert (terms.sum(0) + constant - whole[query].float()).abs().max() <= TOL
