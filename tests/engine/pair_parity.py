"""An encoder-decoder's pair trace beside transformers' run of the same ids: what the T5 and BART-family parity
tests share (each holds its own tolerances)."""

from __future__ import annotations

import torch

from attention_core import load_model


def tiny_pair(tmp_path_factory, monkeypatch_module, name: str, save, source: str, target: str):
    """(hf, ours, pair, out): the transformers model `save(folder)` writes and returns, ours loaded from that folder
    (its own weight cache), and pair_and_reference's pair trace and transformers' run of source and target."""
    folder = tmp_path_factory.mktemp(f"tiny-{name}")
    hf = save(folder)
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp(f"cache-{name}")))
    ours = load_model(str(folder), device="cpu")
    return hf, ours, *pair_and_reference(hf, ours, source, target)


def pair_and_reference(hf, ours, source: str, target: str):
    """(our pair trace of source and target, transformers' output on the same encoder and decoder ids, with every
    attention pattern and hidden state)."""
    pair = ours.trace_pair(source, target)
    src, tgt = torch.tensor([pair.encoder.token_ids]), torch.tensor([pair.decoder.token_ids])
    with torch.inference_mode():
        out = hf(input_ids=src, decoder_input_ids=tgt, output_attentions=True, output_hidden_states=True)
    return pair, out


def assert_patterns_match(ours, pair, out, tol: float) -> None:
    """Every encoder, decoder self- and cross-attention pattern within `tol` of transformers'; cross-attention
    [n_heads, n_target, n_source]; patterns peaked enough that a wrong mapping would move real weight."""
    n_s, n_t = pair.encoder.n_tokens, pair.decoder.n_tokens
    for layer in range(ours.config.n_layers):
        assert (pair.encoder.layer_patterns(layer) - out.encoder_attentions[layer][0]).abs().max() <= tol
    for layer in range(ours.config.n_decoder_layers):
        assert (pair.decoder.layer_patterns(layer) - out.decoder_attentions[layer][0]).abs().max() <= tol
        cross = pair.cross.layer_patterns(layer)
        assert cross.shape == (ours.config.n_heads, n_t, n_s)
        assert (cross - out.cross_attentions[layer][0]).abs().max() <= tol
    assert pair.encoder.layer_patterns(0).max() > 0.5 and pair.cross.layer_patterns(1).max() > 10 / n_s


def assert_hidden_and_logits_match(pair, out, hidden_tol: float, logit_tol: float) -> None:
    """Every residual of both stacks and the decoder's logits within the tolerances of transformers' run."""
    for trace, hidden in ((pair.encoder, out.encoder_hidden_states), (pair.decoder, out.decoder_hidden_states)):
        for layer in range(trace.n_layers):
            assert (trace.resid(layer) - hidden[layer][0]).abs().max() <= hidden_tol, layer
    assert (pair.logits - out.logits[0]).abs().max() <= logit_tol


def greedy_reference(hf, ours, source: str, max_new_tokens: int) -> list[int]:
    """The tokens transformers' greedy `generate` writes after the start token for `source` tokenised as ours does."""
    ids = torch.tensor([ours.trace_pair(source, "x").encoder.token_ids])
    with torch.inference_mode():
        out = hf.generate(input_ids=ids, do_sample=False, num_beams=1, max_new_tokens=max_new_tokens, min_length=0)
    return out[0, 1:].tolist()
