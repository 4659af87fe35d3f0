"""Generate: continue the text token by token (key/value cache), and see where each step looked (issue 16).

Widgets → services.generation (cached; the Experiments page's interventions apply) → viz.views.generation →
viz.figures.lens.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from services.generation import MAX_NEW_TOKENS, can_generate, candidate_arrays, get_generation
from services.interventions import valid_interventions
from services.models import InputError
from ui.context import require_trace
from ui.widgets import show_token_heatmap
from viz.figures.lens import candidates_figure, step_attention_figure, step_heads_figure
from viz.labels import escape_note, predicted_byte_note
from viz.views.common import no_prediction_sentence
from viz.views.export import steps_csv
from viz.views.generation import candidates, generation_cut_sentence, how_generated, step_attention, step_heads

ss = st.session_state
# A long prompt's step charts show this many keys (the last ones, by default): a 1,000-column heatmap is a pixel per
# token, and its 30,000 hover texts made the page's charts 2.8 MB.
KEY_WINDOW = 128


def use_text(text: str) -> None:
    ss.text = text  # the sidebar's text box: every page now reads the generated text


ctx = require_trace()
st.title("Generate: continue the text")
if not can_generate(ctx.model):  # no head to pick here: the subtitle names the model only
    st.caption(ctx.model_label)
    st.info(
        no_prediction_sentence(ctx.model_label, ctx.config.is_encoder_decoder, ctx.config.masked_lm,
                               bool(ctx.config.class_labels), bool(ctx.config.tag_labels), ctx.config.answer_head)
        + " So it cannot continue the text here. Pick SmolLM2 in the sidebar.",
        icon=":material/info:",
    )
    st.stop()
st.caption(f"{ctx.model_label} · layer {ctx.layer}, head {ctx.head} (change them in the sidebar)")

cols = st.columns(3)
n_new = cols[0].number_input("New tokens", 1, MAX_NEW_TOKENS, 30, key="gen_n")
temperature = cols[1].number_input(
    "Temperature", 0.0, 5.0, 0.0, 0.1, key="gen_temperature", help=(
        "0 = greedy: always the most likely token. Above 0, each token is drawn from softmax(logits / temperature) "
        "over the whole vocabulary (no top-k or top-p cut)."
    ),
)
seed = cols[2].number_input("Seed", 0, 2**31 - 1, 0, key="gen_seed", help="Sampling draws from this seed.")
ivs = ()
if ss.get("exp_ivs_model") == ctx.model_name:
    ivs = tuple(valid_interventions(ss.get("exp_ivs", []), ctx.n_layers, ctx.n_heads, ctx.config.attention_layers))
if ivs and st.toggle("Apply the Experiments page's changes", value=True, key="gen_ivs"):
    st.caption("Generating with: " + "; ".join(item.describe() for item in ivs))
else:
    ivs = ()

try:
    with st.spinner(f"Generating {n_new} tokens"):
        gen = get_generation(
            ctx.model, ctx.text, int(n_new), float(temperature), int(seed), ivs, ctx.trace, ctx.token_cap
        )
except InputError as exc:
    st.error(str(exc))
    st.stop()

how = how_generated(gen.temperature, gen.seed)
st.subheader("The continuation")
st.caption(f"{len(gen.new_token_ids)} new tokens, {how}" + (", stopped at end-of-text." if gen.stopped_at_eos else "."))
if gen.trace.truncated:  # the continuation follows the tokens read, not the end of the text
    n_text = gen.trace.n_input_tokens - len(gen.new_token_ids)
    cut = generation_cut_sentence(gen.n_prompt, n_text, int(n_new), ctx.token_cap, ctx.model.max_tokens)
    st.warning(cut, icon=":material/content_cut:")
st.code(gen.text, language=None, wrap_lines=True)
b1, b2 = st.columns(2)
b1.button("Use this text on every page", key="gen_use", on_click=use_text, args=(gen.text,), icon=":material/input:")
top_ids, top_probs = candidate_arrays(gen)
b2.download_button(
    "Every step's top 10 as CSV", partial(steps_csv, top_ids, top_probs, gen.new_token_ids, gen.trace.decode_token),
    file_name=f"generation_{ctx.model_name}_{len(gen.new_token_ids)}_tokens.csv", mime="text/csv",
    icon=":material/table:", on_click="ignore",
)  # fmt: skip

view = step_attention(gen, ctx.layer, ctx.head)
labels = [f"{s + 1}·{t}" for s, t in enumerate(view.rows)]  # the generated tokens (rows: the same for any head)
step = st.pills("Generated tokens: click one to see its step", range(len(labels)),
                format_func=lambda s: labels[s], key="gen_step", default=0)  # fmt: skip
step = 0 if step is None else int(step)
if (escapes := escape_note(gen.trace.tokens)) is not None:  # the pills and axes draw a line break as "\n"
    st.caption(escapes)
n_keys = len(view.keys)
if n_keys > KEY_WINDOW:  # a long prompt: a window of keys, ending with the continuation, that the eye can read
    first = st.slider(
        f"The charts show {KEY_WINDOW} of the {n_keys} tokens before the last one, from position",
        0, n_keys - KEY_WINDOW, n_keys - KEY_WINDOW, key=f"gen_first_{n_keys}",
        help="The weights stay the model's: each is a share of everything that step saw, shown or not.",
    )  # fmt: skip
    view = view.window(int(first), int(first) + KEY_WINDOW)

left, right = st.columns([2, 3])
with left:
    st.markdown(f"**Step {step + 1}: the most likely tokens** (red: the one written)")
    c = candidates(top_ids[step], top_probs[step], gen.new_token_ids[step], gen.trace.decode_token)
    st.plotly_chart(candidates_figure(c), key="gen_candidates", theme=None)
    if (note := predicted_byte_note(c.labels, view.rows[step])) is not None:
        st.caption(note)
with right:
    heads = step_heads(gen, step, ctx.layer)[:, view.first : view.first + len(view.keys)]
    keys = view.keys[: heads.shape[1]]
    show_token_heatmap(step_heads_figure(heads, keys, ctx.layer, view.rows[step], view.first), "gen_heads")
show_token_heatmap(step_attention_figure(view, ctx.layer, ctx.head), "gen_attention")
st.caption(
    "Each row is one generated token; its weights are those of the step that wrote it: the query at the token "
    "before it, looking at everything up to there (a causal model sees nothing later). Probabilities are the "
    "model's own (temperature 1), whatever temperature sampled the token."
)
