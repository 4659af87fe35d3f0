"""How to read the views, in the vocabulary of 3Blue1Brown's chapter 6 ("Attention in transformers")."""

from __future__ import annotations

import streamlit as st

from app_pages.registry import PAGES
from ui.widgets import page_link

# One line per page; a page registered without a line here is still listed (by its title).
ABOUT = {
    "start": "the chapter step by step, on the loaded model and your text: begin here.",
    "patterns": "the tokens, one head's pattern large, every head of the layer and every layer × head.",
    "masking": "the raw scaled scores, and the softmax with and without the causal mask.",
    "inside_head": "one head from the embeddings E to Δe, every matrix, one entry followed through.",
    "embedding_shifts": "how one layer's attention moves each token, and the three *mole* sentences compared.",
    "head_finder": "which heads make one token look at others, and statistics of every head.",
    "cross_attention": "target-language queries reading source-language keys.",
    "parameters": "the chapter's parameter count (GPT-3 preset), the loaded model's exact counts, context size.",
    "experiments": "change one head and see the prediction and the later layers move.",
    "text_view": "the running text shaded by one token's attention, as query or as key.",
    "logit_lens": "the next-token prediction read after every block: where it forms.",
    "contributions": "which earlier tokens, through which blocks, built one token's final embedding.",
    "generate": "continue the text, and see where each new token looked.",
    "atlas": "what every head does across a whole corpus, and its strongest examples.",
}

st.title("How to read this")
st.markdown(
    """
This app runs a real pretrained model on your text and draws what its attention heads computed.
The words below follow 3Blue1Brown's *Attention in transformers, visually explained* (Deep Learning, chapter 6).

**Tokens.** The model never sees words, only tokens. "verdant" is not in SmolLM2's vocabulary, so it
becomes " ver", "d", "ant". A leading space is part of a token; the app draws it as ␣.

**Query and key.** Each token's embedding is multiplied by a query matrix W_Q ("what am I looking
for?", e.g. a noun asking "any adjectives before me?") and by a key matrix W_K ("what do I offer?").
The *scaled score* of a query token and a key token is their dot product divided by √d_head
(**Scores & masking** page, top chart).

**Softmax → attention pattern.** For each query, a softmax turns its scores into weights that are
positive and sum to 1: the attention pattern (**Attention patterns** page). In the chapter's drawing
each *column* is a query; in BertViz and PyTorch each *row* is. The **Orientation** switch picks one;
the caption under the chart says which direction sums to 1.

**Masking.** A decoder like SmolLM2 is trained to predict the next token at every position, so a token
must not see later tokens. Their scores are set to −∞ before the softmax, which makes their weights 0
while the rest still sum to 1. The **Causal mask** toggle re-runs the model with the mask on or off in
every layer; the **Scores & masking** page shows the same scores through a softmax with and without the
mask, and their difference: masked rows renormalize over fewer keys. MiniLM, an encoder, is trained
without a mask.

**Values and Δe.** The pattern says how much each token matters to each other; the **value** maps say
what it adds. *Value-down* W_V takes a token's embedding to d_head numbers, *value-up* (the head's slice of
the output matrix W_O) back to d_model; each query adds up its keys' value vectors, weighted by the
pattern, and that sum Δe is added to its embedding (**Inside one head**, **Embedding shifts**).

**Heads and layers.** Each head has its own query map W_Q and its own slice of W_O, so its own pattern and
its own update. In MiniLM (and GPT-3) each head also has its own W_K and W_V; SmolLM2 saves memory with
grouped-query attention: its 9 query heads share 3 key/value heads, three queries to each W_K and W_V
(**Inside one head** says which). SmolLM2 has 30 layers × 9 heads, MiniLM 6 × 12 (GPT-3: 96 × 96). The
small multiples show every head of the selected layer; the overview shows every layer × head. Click one to
select it.

**The mole sentences.** "American shrew mole", "one mole of carbon dioxide" and "take a biopsy of the
mole" start with the same embedding for " mole"; the layers (attention, and the MLPs between them) move it
toward the right meaning. Compare what " mole" attends to across the three (examples in the sidebar).

**Sizes.** A pattern has one weight per query and key: n² per head, which is why the context size is a
bottleneck; counted as the chapter counts, the attention maps are about a third of GPT-3's 175 billion
parameters (**Parameters & context**).

**Layers without heads.** Beyond the chapter: many recent models are *hybrids* that keep attention in a few
layers and mix tokens another way in the rest: a short convolution over the last few tokens (LFM2), a gated delta
rule, a kind of linear attention (Qwen3.5), a Mamba state-space scan (Granite 4, Nemotron-H, Jamba) or a gated linear
recurrence (RecurrentGemma); Nemotron-H also
has layers that are an MLP alone, and Falcon-H1 keeps its heads in every layer and runs a scan beside them. Load one
under **Another model**: the layer picker then offers the layers with heads, and the last section of **Attention
patterns** unrolls a delta rule or a scan into the weight each earlier token gets, a matrix per head like a pattern
but from no softmax (it can be negative, and a row need not sum to 1).

**Cross-attention.** In a translation model the queries come from the text being written and the keys and
values from the original (**Cross-attention**; load an encoder-decoder such as `google-t5/t5-small`).

**Sharing.** The address bar always holds the model, text, layer, head, masking, orientation and page:
copy it to share exactly this view.
"""
)

st.subheader("Every page")
for page in PAGES:
    if page.name == "guide":
        continue
    c1, c2 = st.columns([2, 3], vertical_alignment="center")  # 2/5: "Parameters & context" whole at 1024 px
    page_link(page, where=c1)
    c2.caption(ABOUT.get(page.name, ""))
