"""What fits at 1024 px: the widths Streamlit gives an element in the main column, and the checks that find a
metric value, a page link, a select box's option or an unwrapped code line wider than its column (Streamlit cuts
the first three with "…" and scrolls the last out of sight). AppTest has no layout, so these compute the column
widths from the columns' weights; the character widths were measured on screenshots (below)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

MAIN_WIDTH_PX = 560  # the main column's width in a 1024 px window with the sidebar open (measured on a screenshot)
COLUMN_GAP_PX = 16  # Streamlit's "small" gap between columns
# A metric value is Source Sans at 36 px: measured on the Parameters page at 1024 px, "1,572,864" fitted its
# 177 px column and "603,979,776" did not ("603,979,7…"), so digits and letters ~18 px, commas and the like ~9 px.
# A metric's label is 14 px Source Sans, cut with "…" when wider than its column: on Experiments at 1024 px the
# 176 px column showed 25 characters of "Mean row entropy, the model (T = 1)" ("Mean row entropy, the mod…") and all of
# "Top prediction at T = 1" with its help icon, so ~6.5 px a character and ~20 px for the icon.
LABEL_CHAR_PX, HELP_ICON_PX = 6.5, 20
# A page link is its icon and 14 px text: "Attention patter" showed in a 128 px column on How to read this.
LINK_PADDING_PX, LINK_CHAR_PX = 36, 7
# A code block is 14 px monospace: Inside one head's softmax line showed 65 characters in the 560 px main column.
CODE_PADDING_PX, CODE_CHAR_PX = 32, 8.1
CODE_LINE_CHARS = int((MAIN_WIDTH_PX - CODE_PADDING_PX) / CODE_CHAR_PX)  # 65: a code line across the main column
# A select box's text is 14 px with its arrow beside it: the sidebar's 239 px Model box showed 31 characters
# ("SmolLM2-135M-Instruct (causal c"), Cross-attention's 273 px head box 40 and a half ("… share 55.0%, spread 0.").
SIDEBAR_WIDTH_PX, SELECT_PADDING_PX, SELECT_CHAR_PX = 239, 46, 6.0
NARROW_CHARS, WIDE_CHARS = set(",.:;'!|il ()"), set("MWm→×−")


def value_width_px(text: str) -> int:
    """About how wide a metric's value is drawn (see the measurements above)."""
    return sum(9 if ch in NARROW_CHARS else 27 if ch in WIDE_CHARS else 18 for ch in text)


def laid_out(node: object, width: float = MAIN_WIDTH_PX) -> list[tuple[object, float]]:
    """Every element under `node` with the width of the column it stands in at 1024 px."""
    if type(node).__name__ == "Column":
        width = width * node.weight - COLUMN_GAP_PX * (1 - node.weight)  # the row's gaps, shared out by weight
    children = getattr(node, "children", {}) or {}
    return [(node, width)] + [pair for child in children.values() for pair in laid_out(child, width)]


def cut_off_metric_values(at: AppTest) -> list[str]:
    """[label: value] for each metric whose value is wider than the column it stands in at 1024 px."""
    return [
        f"{element.label}: {element.value}"
        for element, width in laid_out(at.main)
        if type(element).__name__ == "Metric" and value_width_px(element.value) > width
    ]


def cut_off_metric_labels(at: AppTest) -> list[str]:
    """Each metric's label wider than the column it stands in at 1024 px (with its help icon, if any)."""
    return [
        element.label
        for element, width in laid_out(at.main)
        if type(element).__name__ == "Metric"
        and LABEL_CHAR_PX * len(element.label) + (HELP_ICON_PX if element.proto.help else 0) > width
    ]


def cut_off_page_links(at: AppTest) -> list[str]:
    """The label of each page link wider than the column it stands in at 1024 px."""
    return [
        element.proto.label
        for element, width in laid_out(at.main)
        if type(element).__name__ == "PageLink" and LINK_PADDING_PX + LINK_CHAR_PX * len(element.proto.label) > width
    ]


def cut_off_code_lines(at: AppTest) -> list[str]:
    """Each line of an unwrapped code block longer than its column holds at 1024 px (the rest scrolls out of sight)."""
    return [
        line
        for element, width in laid_out(at.main)
        if type(element).__name__ == "Code" and not element.proto.wrap_lines
        for line in element.value.splitlines()
        if len(line) > (width - CODE_PADDING_PX) / CODE_CHAR_PX
    ]


def cut_off_select_options(at: AppTest) -> list[str]:
    """[label: option] for each select box option, as the box shows it once picked, wider than the box at 1024 px
    (in the main column or the sidebar)."""
    boxes = [(e, w) for root, width in ((at.main, MAIN_WIDTH_PX), (at.sidebar, SIDEBAR_WIDTH_PX))
             for e, w in laid_out(root, width) if type(e).__name__ == "Selectbox"]  # fmt: skip
    return [
        f"{box.label}: {shown}"
        for box, width in boxes
        for shown in box.options  # AppTest lists them as the box shows them (formatted)
        if len(shown) > (width - SELECT_PADDING_PX) / SELECT_CHAR_PX
    ]


INPUT_KINDS = ("NumberInput", "TextInput", "Selectbox", "Slider", "Multiselect")
# An input's 14 px label, measured on Head finder at 1024 px: "Query token (the one looking)" drew 174 px (LABEL_CHAR_PX
# above errs wide, on the safe side, for a label that Streamlit cuts; one that wraps needs the closer figure).
INPUT_LABEL_CHAR_PX = 6.0


def label_lines(element: object, width: float) -> int:
    """How many lines an input's label (and its help icon) takes in a column `width` px wide."""
    label_px = INPUT_LABEL_CHAR_PX * len(element.label) + (HELP_ICON_PX if element.proto.help else 0)
    return int(label_px // max(width, 1.0)) + 1


def wrapped_input_labels(at: AppTest) -> list[str]:
    """The labels of inputs side by side in a row whose labels wrap to more lines than a neighbour's at 1024 px: the
    input's box then sits a line lower than the box beside it (Parameters' "d_model (embedding size)" beside
    "heads per layer")."""
    found = []
    for node, width in laid_out(at.main):
        columns = [c for c in (getattr(node, "children", {}) or {}).values() if type(c).__name__ == "Column"]
        firsts = []
        for column in columns:  # each column's first input, with the column's own width
            inputs = [(e, w) for e, w in laid_out(column, width) if type(e).__name__ in INPUT_KINDS]
            if inputs:
                firsts.append(inputs[0])
        lines = [label_lines(e, w) for e, w in firsts]
        if len(set(lines)) > 1:
            found += [e.label for (e, _), n in zip(firsts, lines, strict=True) if n > min(lines)]
    return found
