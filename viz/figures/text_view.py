"""The text view as one self-contained HTML page (no network, no CDN): the text as running tokens, shaded by one
token's attention weights on hover or click (text_view.js beside this file does the drawing).

Safety: every string from the text reaches the page only inside a JSON block in which `<`, `>` and `&` are
written as \\u escapes (so no `</script>` can close it), and the script puts strings into the page with
textContent and title, which never read markup.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path

from viz.views.text_view import LOG_FLOOR, LOG_STEP, STRONGEST, Encoded, TextPieces

_JS = (Path(__file__).with_name("text_view.js")).read_text(encoding="utf-8")
ALPHA_MAX = 0.7  # the background alpha of the most-weighted token: darker would hide the text
CHUNK_MIN_TOKENS = 512  # past this, the text is drawn in paragraphs the browser skips while off screen
PARAGRAPH_TOKENS = 160
COLOURS = {"query": (37, 99, 235), "key": (234, 88, 12)}  # blue: what it reads; orange: who reads it

_CSS = """
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
  background: #fff; }
#tv-legend { font-size: 14px; line-height: 1.45; margin: 0 0 8px 0; }
#tv-legend .how { margin: 0 0 4px 0; }
#tv-scale { margin: 4px 0; }
#tv-ends { display: inline-flex; align-items: center; gap: 6px; white-space: nowrap; vertical-align: middle; }
#tv-bar { width: 120px; height: 12px; flex: none; border-radius: 3px; border: 1px solid #ccc; }
#tv-max { display: inline-block; min-width: 3.2em; }
#tv-status { height: 2.9em; overflow: hidden; overflow-wrap: anywhere; }
#tv-hint { color: #666; }
@media (max-width: 520px) { #tv-status { height: 4.35em; } }
.note { color: #666; font-size: 13px; }
#tv-text { background: #fff; contain: content; white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.85;
  font-size: 16px; max-height: 520px; overflow-y: auto; border: 1px solid #d0d7de; border-radius: 6px;
  padding: 10px 12px; }
.para { content-visibility: auto; contain-intrinsic-size: auto 240px; }
.tok { border-radius: 3px; cursor: pointer; }
.tok:hover { box-shadow: inset 0 -2px 0 #999; }
.chip { font-size: 0.78em; color: #555; border: 1px dashed #aaa; padding: 0 3px; margin: 0 1px; }
.sel { outline: 2px solid #d6336c; }
.pin { outline: 3px solid #d6336c; outline-offset: 1px; }
"""


@dataclass(frozen=True)
class Legend:
    """What the page says above the text: what is shaded (one head or the mean of a layer's heads), and whether
    each token's weights are all there or only its top k (with the measured share they hold)."""

    what: str  # e.g. "layer 3, head 2" or "the mean of layer 3's 9 heads"
    causal: bool
    store_key: str  # where the browser remembers the pinned token (the same text and model: the same pin)


def how_sentence(direction: str, what: str, causal: bool) -> str:
    """The legend's first line: what the shading of a token means."""
    if direction == "query":
        earlier = " (earlier tokens only: the causal mask)" if causal else ""
        return (
            f"Hover a token: every token is shaded by how much the hovered token attends to it{earlier}, as a "
            f"query: its row of the pattern, {what}. The row sums to 1."
        )
    later = " (itself and later tokens only: the causal mask)" if causal else ""
    return (
        f"Hover a token: every token is shaded by how much it attends to the hovered token{later}, as a key: the "
        f"hovered token's column of the pattern, {what}."
    )


def coverage_note(enc: Encoded) -> str:
    """Truthful about what the browser was sent: all weights, or each token's top k and the share they hold."""
    quant = (
        "The shading is drawn from weights rounded to within 2.8 % (so a long text stays fast); the three strongest, "
        "named above once you hover a token, are exact (to 3 significant digits)."
    )
    if enc.layout != "topk":
        return f"All {enc.n} tokens' weights are shown. {quant}"
    pct = f"{100 * enc.coverage:.1f} %"
    if enc.direction == "query":
        said = f"each token's top {enc.k} keys, which hold {pct} of its weight on average"
    else:
        said = (
            f"for each token the {enc.k} queries that attend to it most, which hold {pct} of the attention it "
            "receives on average"
        )
    return f"{enc.n} tokens: to stay fast, this shows {said}; the others are left unshaded. {quant}"


def _json_for_script(value: object) -> str:
    """JSON that cannot end its <script> block or open markup: <, >, & as \\u escapes (still valid JSON)."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def text_view_html(pieces: TextPieces, enc: Encoded, legend: Legend) -> str:
    """The whole component page, self-contained."""
    rgb = COLOURS[enc.direction]
    data = {
        "n": enc.n,
        "dir": enc.direction,
        "layout": enc.layout,
        "k": enc.k,
        "codes": base64.b64encode(enc.codes.tobytes()).decode("ascii"),
        "index": base64.b64encode(enc.index.astype("<u2").tobytes()).decode("ascii"),
        "topIndex": base64.b64encode(enc.top_index.astype("<u2").tobytes()).decode("ascii"),
        "topWeight": base64.b64encode(enc.top_weight.astype("<f4").tobytes()).decode("ascii"),
        "topK": STRONGEST,
        "floor": LOG_FLOOR,
        "step": LOG_STEP,
        "gaps": pieces.gaps,
        "shown": pieces.shown,
        "chip": [1 if c else 0 for c in pieces.chip],
        "labels": pieces.labels,
        "rgb": list(rgb),
        "alpha": ALPHA_MAX,
        "chunkMin": CHUNK_MIN_TOKENS,
        "para": PARAGRAPH_TOKENS,
        "store": legend.store_key,
        "what": legend.what,
        "strongestWord": "attends most to" if enc.direction == "query" else "is attended to most by",
        "idle": "Hover a token, or click one to pin it.",
    }
    bar = f"linear-gradient(to right, rgba({rgb[0]},{rgb[1]},{rgb[2]},0), rgba({rgb[0]},{rgb[1]},{rgb[2]},{ALPHA_MAX}))"
    how = how_sentence(enc.direction, legend.what, legend.causal)
    note = coverage_note(enc)
    if enc.n > CHUNK_MIN_TOKENS:
        note += (
            f" The text is drawn in paragraphs of about {PARAGRAPH_TOKENS} tokens (cut at a newline or a sentence "
            "end), so that the browser repaints only what is on screen."
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<style>{_CSS}</style></head><body>"
        "<div id='tv-legend'>"
        f"<div class='how'>{html.escape(how, quote=False)}</div>"
        # "0 ▭ max" kept on one line; the explanation after it wraps like text (as one block it had left the bar
        # alone on a line at 1024 px).
        f"<div id='tv-scale'><span id='tv-ends'><span>0</span><span id='tv-bar' style='background:{bar}'></span>"
        "<b id='tv-max'>max</b></span> = darkest (the largest weight in the hovered token's "
        f"{'row' if enc.direction == 'query' else 'column'}; shades are in proportion)</div>"
        "<div id='tv-status'><b id='tv-who'></b><span id='tv-top'></span><span id='tv-hint'></span></div>"
        f"<div class='note'>{html.escape(note, quote=False)}</div>"
        "</div>"
        "<div id='tv-text' data-testid='text-view'></div>"
        f"<script id='tv-data' type='application/json'>{_json_for_script(data)}</script>"
        f"<script>{_JS}</script></body></html>"
    )
