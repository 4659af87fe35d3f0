"""A token classifier's labels (services.lens.tag_grid): the label of every token read from its embedding after
every block, drawn as the logit lens's grid (viz.views.lens.LensGrid, tagged), where each token's label settles, and
the model's own labels as a table. numpy in, words out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from viz.labels import markdown_code, plotly_escape, readable_token
from viz.views.lens import LensGrid, cell_chars, settle_layers

TOP_LABELS = 3  # the hover's labels per cell


def tag_grid_view(probs: np.ndarray, labels: Sequence[str], tokens: Sequence[str], first: int = 0) -> LensGrid:
    """The grid of probabilities [n_layers, n, n_labels] at positions first..first + n - 1 (`tokens`: those n input
    tokens): each cell the top label after that block, coloured by its probability; the hover the top 3."""
    n_layers, n, _ = probs.shape
    order = np.argsort(-probs, axis=2, kind="stable")[:, :, :TOP_LABELS]  # (n_layers, n, ≤3)
    shown, chars = [readable_token(t) for t in tokens], cell_chars(n)
    names = [plotly_escape(str(label)) for label in labels]  # a checkpoint's own words: anything
    cut = [plotly_escape(str(label) if len(str(label)) <= chars else str(label)[: chars - 1] + "…") for label in labels]
    cell_text = [[cut[order[layer, pos, 0]] for pos in range(n)] for layer in range(n_layers)]
    hover = [["<br>".join([f"layer {layer} · position {first + pos}, ‘{plotly_escape(shown[pos])}’",
                           f"top {order.shape[2]} labels under this block's reading:",
                           *(f"{names[i]}  {probs[layer, pos, i]:.1%}" for i in order[layer, pos])])
              for pos in range(n)] for layer in range(n_layers)]  # fmt: skip
    top1 = order[:, :, 0]
    prob = np.take_along_axis(probs, top1[:, :, None], axis=2)[:, :, 0].astype(np.float64)
    first_shown = np.argmax(top1 == top1[-1:], axis=0)  # the final row matches itself, so argmax finds a match
    return LensGrid(cell_text, prob, hover, shown, settle_layers(top1), first_shown, first, tagged=True)


def tag_rows(probs: np.ndarray, labels: Sequence[str], tokens: Sequence[str], first: int = 0) -> list[dict]:
    """The model's own labels (the last block's) as table rows: position, token, label, its probability, and the block
    from which it stays on top."""
    final = probs[-1]  # (n, n_labels)
    top = np.argmax(final, axis=1)
    settles = settle_layers(np.argmax(probs, axis=2))
    return [{"position": first + pos, "token": readable_token(tokens[pos]), "label": str(labels[top[pos]]),
             "probability": float(final[pos, top[pos]]), "on top from block": int(settles[pos])}
            for pos in range(len(tokens))]  # fmt: skip


def tag_sentence(probs: np.ndarray, labels: Sequence[str], tokens: Sequence[str], model: str,
                 markdown: bool = True, replaced: bool = False) -> str:  # fmt: skip
    """What the tagger does and where its labels settle, in Markdown (`model` already Markdown-safe; labels and tokens
    as code: a checkpoint's names and a typed text may hold anything), or plain text (a notebook's note). `replaced`:
    ELECTRA's discriminator (services.lens.REPLACED_LABELS), said as what it was trained to spot."""
    code = markdown_code if markdown else (lambda text: f"‘{text}’")
    top = np.argmax(probs, axis=2)  # (n_layers, n)
    settles, last = settle_layers(top), probs.shape[0] - 1
    counts = np.bincount(top[-1], minlength=len(labels))
    common = int(np.argmax(counts))
    what = (f"{model} is ELECTRA's discriminator: trained to spot the tokens a small generator put in place of the "
            "text's own, its head reads each token's final embedding and says whether that token is "
            f"{code('original')} or {code('replaced')} (the sigmoid of its one logit is p({code('replaced')}))"
            if replaced else
            f"{model} is a token classifier: its head labels every token from that token's own final embedding, one "
            f"of {len(labels)} labels")  # fmt: skip
    said = (f"{what}; here {int(counts[common])} of {top.shape[1]} tokens get {code(str(labels[common]))}. Read the "
            "same way after each block (a logit lens for the labels), ")  # fmt: skip
    latest = int(settles.max())
    if latest == 0:
        return said + "every token's final label is already on top after block 0."
    late = np.flatnonzero(settles == latest)
    named = ", ".join(code(readable_token(tokens[i])) for i in late[:3]) + (
        f" and {late.size - 3} more" if late.size > 3 else "")  # fmt: skip
    return said + f"the latest to settle, on top only from block {latest} (of 0–{last}) on: {named}."


def first_uncommon(probs: np.ndarray) -> int:
    """The first position whose final label is not the one most tokens get (a named entity among `O`s), else 0: what
    a page follows first."""
    top = np.argmax(probs[-1], axis=1)
    uncommon = np.flatnonzero(top != np.argmax(np.bincount(top)))
    return int(uncommon[0]) if uncommon.size else 0


def tag_groups(final: np.ndarray, labels: Sequence[str], offsets: Sequence[tuple[int, int]], text: str,
               first: int = 0) -> list[dict]:  # fmt: skip
    """The model's own labels grouped as transformers' token-classification pipeline groups them (aggregation
    "simple"): from final probabilities [n, n_labels] at positions first.., tokens that span no text (the special
    tokens a tokenizer adds) left out, each token's top label; adjacent tokens join while their label's type (the part
    after "B-"/"I-", else the whole label) stays the same and the next is no "B-"; a group is named by its first
    label's part after its first "-", scored by its tokens' mean probability, and spans text[start:end]. Groups named
    "O" (outside any entity) are left out, as the pipeline's default leaves them."""
    groups: list[dict] = []
    for pos in range(final.shape[0]):
        start, end = offsets[first + pos]
        if end <= start:  # a special token ([CLS], [SEP], <s>)
            continue
        top = int(np.argmax(final[pos]))
        label, score = str(labels[top]), float(final[pos, top])
        begins, kind = _tag_parts(label)
        if groups and not begins and kind == _tag_parts(groups[-1]["labels"][-1])[1]:
            group = groups[-1]
            group["labels"].append(label), group["scores"].append(score)
            group["end"], group["last"] = end, first + pos
        else:
            groups.append({"labels": [label], "scores": [score], "start": start, "end": end, "first": first + pos,
                           "last": first + pos})  # fmt: skip
    rows = [{"entity": g["labels"][0].split("-", 1)[-1], "text": text[g["start"]:g["end"]],
             "score": float(np.mean(g["scores"])), "start": g["start"], "end": g["end"],
             "positions": f"{g['first']}–{g['last']}" if g["last"] > g["first"] else str(g["first"])}
            for g in groups]  # fmt: skip
    return [row for row in rows if row["entity"] != "O"]


GROUPS_NAMED = 10  # a note names at most this many groups


def groups_sentence(groups: Sequence[dict], entities: bool) -> str:
    """tag_groups' groups in one plain-text sentence (a notebook's note): each label, its text quoted, its score;
    `entities`: the labels are entity tags (an "O" among them)."""
    if not groups:
        return ""
    named = ", ".join(f"{g['entity']} ‘{g['text']}’ {g['score']:.2f}" for g in groups[:GROUPS_NAMED])
    more = f" and {len(groups) - GROUPS_NAMED} more" if len(groups) > GROUPS_NAMED else ""
    what = "Entities" if entities else "Spans"
    return f"{what}, grouped as transformers' token-classification pipeline groups them: {named}{more}."


def _tag_parts(label: str) -> tuple[bool, str]:
    """(whether the label begins an entity, its type): "B-PER" → (True, "PER"), "I-PER" → (False, "PER"); a label
    without either prefix continues, and is its own type (the pipeline's get_tag)."""
    if label.startswith(("B-", "I-")):
        return label.startswith("B-"), label[2:]
    return False, label
