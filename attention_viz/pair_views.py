"""The view of what `Model.trace_pair` returns (an encoder-decoder's source and target): one decoder layer's
cross-attention head over the source, then the same head's causal self-attention over the target, as the app's
Cross-attention page draws them (app_pages/cross_attention.py `show_encoder_decoder`): the same view models and
figure builders. The encoder and the decoder are Traces of their own: every other view draws them."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from attention_viz.base import View, ViewError
from viz.figures.heatmaps import head_heatmap
from viz.figures.layout import Orientation
from viz.figures.mechanism import cross_attention_heatmap
from viz.views.cross import ENCODER_DECODER_NOTE, EncoderDecoderCross, block_axis_labels
from viz.views.patterns import head_view, is_long, tokens_of
from viz.views.score_terms import score_terms

FROM_PAIR = ("cross",)  # views of a PairTrace, not of one trace


def is_pair(value: Any) -> bool:
    """Model.trace_pair's result (its encoder's and decoder's traces and their cross-attention), not a Trace."""
    return all(hasattr(value, part) for part in ("encoder", "decoder", "cross"))


def pair_view(pair: Any, name: str, layer: int, head: int, orient: Orientation) -> View:
    """`name` of a PairTrace: "cross" alone; the others are views of `pair.encoder` or `pair.decoder`."""
    if name not in FROM_PAIR:
        raise ViewError(
            f"the {name!r} view draws one trace: show(pair.encoder, ...) or show(pair.decoder, ...); a pair from "
            "model.trace_pair(...) draws 'cross'"
        )
    decoder = pair.decoder
    if not (0 <= layer < decoder.n_layers and 0 <= head < decoder.n_heads):
        raise ViewError(
            f"decoder layer {layer}, head {head} is out of range: {decoder.model_name}'s decoder has layers "
            f"0..{decoder.n_layers - 1} and heads 0..{decoder.n_heads - 1}"
        )
    if is_long(max(decoder.n_tokens, pair.encoder.n_tokens)):
        raise ViewError("the cross view takes texts of at most 256 tokens each: shorten the source or the target")
    cross = EncoderDecoderCross(pair)
    block = cross.block(layer, head)
    queries, keys = block_axis_labels(cross, block)
    figures = [
        cross_attention_heatmap(block.pattern, queries, keys, layer, head),
        _self_attention(decoder, layer, head, orient),
    ]
    return View("cross", figures, layer, head, note=ENCODER_DECODER_NOTE)


def _self_attention(decoder: Any, layer: int, head: int, orient: Orientation) -> go.Figure:
    """The same decoder layer and head over the target (causal), as the page draws it below the cross block."""
    view = head_view(decoder, layer, head)
    title = f"Decoder layer {layer}, head {head}: its self-attention over the target (causal)"
    return head_heatmap(
        view.pattern, view.scores, view.mask, tokens_of(decoder).plotly, orient, title,
        score_label=score_terms(decoder).name,
    )  # fmt: skip
