"""The layer-by-layer views of one trace, as the app's pages draw them: the logit lens (app_pages/logit_lens.py),
what each key sends (the patterns page's value-weighted switch), one token's contribution graph
(app_pages/contribution_graph.py), a hybrid's scan or delta-rule weights, a protein model's contacts (the patterns
page's last sections) and what it expects at each residue (the Logit lens page's last section), a classifier's
verdict and a tagger's labels after every block (its first sections). The same services,
view models and figure builders; nothing is cached here.
"""

from __future__ import annotations

from typing import Any

from attention_viz.base import View, ViewError
from services.answers import answer_logits_of
from services.lens import (
    AMINO_ACIDS,
    REPLACED_LABELS,
    class_verdict_of,
    contacts_of,
    fills_in,
    graph_columns,
    implicit_weights_of,
    lens_top,
    mask_token,
    mask_token_id,
    ranks_of,
    residue_logprobs_of,
    tag_grid_of,
    value_weighted_of,
    weighted_layers,
)
from viz.figures.answers import answer_figure
from viz.figures.classes import class_track_figure
from viz.figures.contacts import contact_heatmap
from viz.figures.flow import flow_figure
from viz.figures.implicit import implicit_heatmap
from viz.figures.layout import Orientation
from viz.figures.lens import lens_grid_figure, lens_track_figure, step_attention_figure, value_weighted_heatmap
from viz.figures.residues import residue_heatmap
from viz.labels import axis_labels, plotly_escape, plotly_tokens, readable_token
from viz.views.answers import answer_sentence, answer_view, answer_window
from viz.views.classes import class_sentence, class_view
from viz.views.common import display_tokens
from viz.views.contacts import contact_sentence, contact_view
from viz.views.experiments import text_end
from viz.views.flow import DEFAULT_THRESHOLD, flow_view
from viz.views.generation import generation_cut_sentence, how_generated, step_attention
from viz.views.implicit import implicit_sentence, implicit_view
from viz.views.lens import (
    LENS_WINDOW,
    chosen_tokens,
    focus_place,
    focus_position,
    grid_byte_note,
    lens_grid,
    lens_track,
    position_words,
    settle_caption,
    sink_sentence,
)
from viz.views.patterns import head_view
from viz.views.residues import residue_sentence, residue_view
from viz.views.sent_words import sent_formula
from viz.views.tags import groups_sentence, tag_grid_view, tag_groups, tag_sentence


def lens_view(trace: Any) -> View:
    """Every layer's top-1 next token at the text's last (up to 64) positions, and the last position's final top 3
    (and the next token of the text, where there is one) layer by layer; for a masked-language model, its guesses
    for the token at each position, followed at the first mask token (else the last position), with the token the
    text has there. views.check_args refuses a model without logits."""
    stop = trace.n_tokens
    first = max(0, stop - LENS_WINDOW)
    ids, probs = lens_top(trace, 5, first, stop)
    here, mask = fills_in(trace), mask_token(trace)
    grid = lens_grid(ids, probs, display_tokens(trace)[first:stop], trace.decode_token, first, fills_in=here)
    focus = focus_position(trace.tokens, first, stop, mask, text_end(trace) if here else None)
    chosen = chosen_tokens(ids, focus - first, trace.token_ids[first:], mask_id=mask_token_id(trace))
    track = lens_track(chosen, *ranks_of(trace, focus, chosen), trace.decode_token)
    title = f"{position_words(f'‘{plotly_escape(grid.tokens[focus - first])}’', here)} (position {focus})"
    final = readable_token(trace.decode_token(int(ids[-1, focus - first, 0])))
    where = focus_place(focus, stop, stop, mask if mask is not None and trace.tokens[focus] == mask else None)
    note = settle_caption(grid, focus - first, f"‘{final}’", where)
    byte_note = grid_byte_note(ids, trace.decode_token)  # why some cells show a bare byte, as the page says
    note = note if byte_note is None else f"{note} {byte_note}"
    return View("lens", [lens_grid_figure(grid), lens_track_figure(track, title)], 0, 0, note=note)


def sent_view(trace: Any, layer: int, head: int, orient: Orientation) -> View:
    """One head's ‖A[i,j]·v_j·W_O^h‖: what each key adds to each query, laid out as the pattern."""
    pattern = head_view(trace, layer, head).pattern
    sent = value_weighted_of(trace, layer, head)
    _, labels = axis_labels(display_tokens(trace))
    gated = trace.config.attn_output_gate
    figure = value_weighted_heatmap(sent, pattern, labels, orient, sent_formula(gated, short=True))
    figure.update_layout(title=dict(text=f"Layer {layer}, head {head}: what each key sends, ‖{sent_formula(gated)}‖"))
    return View("sent", [figure], layer, head, note=sink_sentence(pattern, sent))


def generation_view(generated: Any, layer: int, head: int) -> View:
    """Where one head looked at each step of a generation (app_pages/generate.py's step map): row s is the query
    that chose generated token s, over every token before it."""
    if not is_generation(generated):
        raise ViewError("the generation view draws what model.generate(...) returns, not a trace")
    steps = step_attention(generated, layer, head)
    how = how_generated(generated.temperature, generated.seed)
    eos = ", ending at the end-of-text token" if generated.stopped_at_eos else ""
    note = f"{len(generated.new_tokens)} new tokens ({how}{eos}) after a {generated.n_prompt}-token prompt."
    if generated.trace.truncated:
        n_text = generated.trace.n_input_tokens - len(generated.new_token_ids)
        note += " " + generation_cut_sentence(generated.n_prompt, n_text, None)
    return View("generation", [step_attention_figure(steps, layer, head)], layer, head, note=note)


def is_generation(value: Any) -> bool:
    """Model.generate's result (a Generation: its trace, and where the prompt ends), not a Trace."""
    return hasattr(value, "n_prompt") and hasattr(value, "new_tokens") and hasattr(value, "trace")


def contributions_view(trace: Any, threshold: float = DEFAULT_THRESHOLD) -> View:
    """Where the last token's final embedding came from: every part at or above `threshold` of the sum it joins."""
    token = trace.n_tokens - 1
    edges = graph_columns(trace, token, threshold)
    cfg = trace.config
    mixers = [cfg.mixer_name(layer) for layer in range(cfg.n_layers)] if cfg.hybrid else ()  # a hybrid's words
    view = flow_view(edges, display_tokens(trace), token, trace.n_layers, threshold, mixers)
    reached = len(view.positions) - 1
    note = f"{view.n_edges} edges at threshold {threshold:.2f}; {reached} other tokens reach the last one."
    return View("contributions", [flow_figure(view)], 0, 0, note=note)


IMPLICIT_TOKENS = 256  # as the patterns page draws them (ui/implicit_weights.py)


def implicit_view_of(trace: Any, layer: int, head: int, orient: Orientation) -> View:
    """One head of a hybrid's Mamba-2 or gated-delta-rule layer: weight[t, s] for every earlier token s, signed."""
    layers = weighted_layers(trace)
    if layer not in layers:
        raise ViewError(f"layer {layer} of {trace.model_name} runs {trace.config.mixer_phrase(layer)}: the implicit "
                        f"view draws a Mamba-2 or gated-delta-rule layer ({list(layers) or 'this model has none'})")
    weights = implicit_weights_of(trace, layer, 0, min(trace.n_tokens, IMPLICIT_TOKENS))  # (heads, m, m)
    if not 0 <= head < weights.shape[0]:
        raise ViewError(f"head {head} is out of range: layer {layer} has heads 0..{weights.shape[0] - 1}")
    _, labels = axis_labels(display_tokens(trace))
    view = implicit_view(weights, head, labels, layer, trace.n_tokens)
    title = f"Layer {layer} ({trace.config.mixer_name(layer)}), head {head}: the weight each earlier token gets"
    return View("implicit", [implicit_heatmap(view, orient, title)], layer, head, note=implicit_sentence(view))


def contacts_view(trace: Any) -> View:
    """A protein model's contacts predicted from every head's pattern by its contact head (ESM-2's, ESM-1b's)."""
    found = contacts_of(trace)
    if found is None:
        why = "no contact head" if trace.n_tokens >= 4 else "a text of fewer than two residues"
        raise ViewError(f"{trace.model_name} has {why}: the contacts view draws an ESM-2 or ESM-1b model's contact "
                        "head over a protein sequence")  # fmt: skip
    view = contact_view(found, list(trace.tokens))
    title = f"Contacts predicted from {trace.model_name}'s attention"
    note = contact_sentence(view, trace.model_name, markdown=False)  # a note is plain text
    return View("contacts", [contact_heatmap(view, title)], 0, 0, note=note)


def residues_view(trace: Any) -> View:
    """A protein model's log p of each amino acid at each residue, from its masked-language-model head (ESM, ESM C)."""
    found = residue_logprobs_of(trace)
    if found is None:
        raise ViewError(f"{trace.model_name} is not a protein model loaded with its masked-language-model head, or "
                        "the text has no residues: the residues view draws what ESM or ESM C expects at each "
                        "residue")  # fmt: skip
    view = residue_view(found[0], AMINO_ACIDS, list(trace.tokens), found[1])
    title = f"What {trace.model_name} expects at each residue"
    note = residue_sentence(view, trace.model_name, markdown=False)  # a note is plain text
    return View("residues", [residue_heatmap(view, title)], 0, 0, note=note)


def classes_view(trace: Any) -> View:
    """A sequence classifier's score for each label after every block (the Logit lens page's first section)."""
    found = class_verdict_of(trace)
    if found is None:
        raise ViewError(f"{trace.model_name} has no sequence-classification head: the classes view draws a "
                        "classifier's verdict")  # fmt: skip
    view = class_view(*found)
    title = f"{trace.model_name}'s verdict, layer by layer"
    note = class_sentence(view, trace.model_name, False, pair=trace.segments is not None)
    return View("classes", [class_track_figure(view, title)], 0, 0, note=note)


def tags_view(trace: Any) -> View:
    """A token classifier's label of each token after every block (the Logit lens page's section), at the text's first
    (up to 64) positions; the note says where the labels settle and names the entities (tag_groups)."""
    found = tag_grid_of(trace)
    if found is None:
        raise ViewError(f"{trace.model_name} has no token-classification head: the tags view draws a tagger's labels")
    probs, labels = found
    tokens = display_tokens(trace)
    stop = min(len(tokens), LENS_WINDOW)
    replaced = tuple(labels) == REPLACED_LABELS  # ELECTRA's discriminator
    note = tag_sentence(probs, labels, tokens, trace.model_name, markdown=False, replaced=replaced)  # plain text
    note += " Each cell is the top label at its position after that block."
    if stop < len(tokens):
        note += f" The grid shows the first {stop} of the {len(tokens)} tokens."
    if not replaced:
        groups = tag_groups(probs[-1], labels, trace.offsets, trace.text)
        note = " ".join(filter(None, (note, groups_sentence(groups, "O" in labels))))
    return View("tags", [lens_grid_figure(tag_grid_view(probs[:, :stop], labels, tokens[:stop]))], 0, 0, note=note)


def answers_view(trace: Any) -> View:
    """An extractive question-answering model's answer: each context token's p(start) and p(end) after the last
    block, its answer after every block in the note (the Logit lens page's section)."""
    logits = answer_logits_of(trace)
    if logits is None:
        raise ViewError(f"{trace.model_name} has no question-answering head: the answers view draws a reader's "
                        "answer span")  # fmt: skip
    view = answer_view(logits, trace)
    if view is None:
        raise ViewError("The token cap left no token of the context to answer from: raise max_tokens.")
    window = answer_window(view, LENS_WINDOW)
    note = answer_sentence(view, trace.model_name, quote=lambda text: f"‘{text}’")
    return View("answers", [answer_figure(view, plotly_tokens(display_tokens(trace)), window)], 0, 0, note=note)
