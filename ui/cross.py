"""The cross-attention view of two texts for the page context's model, for the pages that draw one (Cross-attention,
Start here's last step): an encoder-decoder's own cross-attention, else one decoder prompt's target × source block."""

from __future__ import annotations

from services.traces import get_pair, short_trace
from ui.context import PageContext
from viz.views.cross import EncoderDecoderCross, PromptCross, build_prompt


def cross_view(ctx: PageContext, source: str, target: str) -> EncoderDecoderCross | PromptCross:
    """`source` and `target` through the model: its encoder and decoder (an encoder-decoder), or one prompt holding
    both ("English: … French: …", viz.views.cross.build_prompt) under the sidebar's masking. Raises the engine's
    InputError when a text cannot be traced."""
    if ctx.config.is_encoder_decoder:
        return EncoderDecoderCross(get_pair(ctx.model, source, target))
    prompt, source_span, target_span = build_prompt(source, target)
    return PromptCross(short_trace(ctx.model, prompt, ctx.causal), source_span, target_span)
