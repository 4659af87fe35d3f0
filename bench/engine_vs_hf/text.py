"""The timed text: real English prose, cut after its n-th token."""

from __future__ import annotations

from typing import Any

# Real English prose, repeated until the tokenizer yields enough tokens. Several paragraphs rather than one
# sentence so that the text is not trivially periodic at short lengths.
PASSAGE = """\
Lighthouses were once the most important buildings on any dangerous coast. Before satellites and radio, a \
captain approaching land at night had only the stars, a compass, a chart and whatever lights he could see \
from the deck. A single well-placed tower could save dozens of ships every winter, and the men and women who \
kept the lamps burning were respected in every harbour town.

The earliest lights were simply fires on hills. The famous Pharos of Alexandria, built more than two thousand \
years ago, carried a fire at the top of a stone tower so tall that travellers described it as one of the \
wonders of the world. For centuries afterwards most lights burned wood or coal, which produced a great deal \
of smoke and not much useful light, and keepers spent long nights carrying fuel up narrow stairs.

Everything changed in the nineteenth century. A French engineer named Augustin Fresnel designed a lens made \
of many rings of glass, each ring bending the light a little more than the one inside it. The lens gathered \
almost all of the light from a small lamp and sent it out in a narrow, powerful beam that could be seen more \
than twenty miles away. Rotating the lens made the beam sweep across the sea, and each lighthouse was given \
its own pattern of flashes so that sailors could tell one tower from another.

Life at a lighthouse was lonely but rarely idle. The keeper trimmed the wicks, polished the brass, cleaned \
the glass, wound the clockwork that turned the lens and wrote the weather in a logbook every few hours. \
During storms he might stay awake for two or three days, and on remote rocks supplies sometimes could not \
reach the station for weeks. Many keepers kept gardens, raised goats, taught their children at home and read \
every book that the supply boat brought.

Today nearly all lighthouses are automatic. Electric lamps switch on at dusk, sensors report faults to a \
control room on the mainland, and ships find their way with satellite navigation. Yet the towers remain \
useful as a backup when electronics fail, and many have become museums where visitors climb the stairs, \
look through the great lenses and imagine the long nights of the people who once lived there."""


def build_text(model: Any, n_tokens: int) -> str:
    """PASSAGE, repeated until our tokenizer gives at least n_tokens, then cut after the n-th token's
    characters, so that our timed trace tokenizes about n_tokens of text, not the whole passage (HF is
    handed the same ids already tokenized); the trace's token cap makes the count exact."""
    tokenizer = model.tokenizer.tokenizer
    text = PASSAGE
    while len(tokenizer.encode(text).ids) < n_tokens:
        text += "\n\n" + PASSAGE
    cut = text[: tokenizer.encode(text).offsets[n_tokens - 1][1]]
    return cut if len(tokenizer.encode(cut).ids) >= n_tokens else text
