"""Parameters and context size: the attention parameter calculator (GPT-3 preset), the loaded model's exact
counts, and how the attention pattern grows with the context, next to measured trace times."""

from __future__ import annotations

import streamlit as st

from services.sizes import GPT3_PRESET, GPT3_TOTAL, breakdown, loaded_breakdown, measure_trace
from ui.context import page_context
from ui.widgets import fixed_decimals, right_aligned, show_chart
from viz.figures.mechanism import context_growth, timing_figure
from viz.labels import counted
from viz.views.sizes import context_lengths, human_bytes, human_count, pattern_bytes, pattern_entries, sublayer_words

# Token counts and pattern sizes with their thousands separators ("8,192", as the captions and the chart write them).
COUNTS = {name: st.column_config.NumberColumn(format="localized") for name in ("tokens n", "tokens", "pattern entries")}
FIELDS = ("d_model", "d_head", "n_heads", "n_layers")
# Short labels, the meaning in each one's tooltip: at 1024 px "d_model (embedding size)" wrapped to two lines in its
# quarter of the row, and its box sat a line below "heads per layer"'s.
LABELS = {"d_model": "d_model", "d_head": "d_head", "n_heads": "heads per layer", "n_layers": "layers"}
MEANINGS = {
    "d_model": "The embedding size: how many numbers each token's vector holds (GPT-3: 12,288).",
    "d_head": "The key-query space: how many numbers each head's query, key and value-down vectors hold (GPT-3: 128).",
    "n_heads": "How many heads each attention layer has (GPT-3: 96).",
    "n_layers": "How many attention layers the model has (GPT-3: 96).",
}


def apply_preset(values: dict[str, int]) -> None:
    # A button callback runs before the script, so it may set the number inputs' state.
    for k in FIELDS:
        st.session_state[f"mech_calc_{k}"] = values[k]


ctx = page_context()
model = ctx.model
cfg = ctx.config
st.title("Parameters and context size")

# ── calculator ───────────────────────────────────────────────────────────────────────────────────
st.header("How many parameters does attention have?")
st.caption(
    "Counting as 3Blue1Brown does: per head a query map, a key map and a value-down map (each d_model × d_head) and "
    "a value-up map (d_head × d_model); biases not counted."
)
# An encoder-decoder's "layers" here are its attention sublayers: a decoder layer holds self- and cross-attention.
loaded = {"d_model": cfg.d_model, "d_head": cfg.d_head, "n_heads": cfg.n_heads, "n_layers": cfg.attention_sublayers}
for k in FIELDS:
    st.session_state.setdefault(f"mech_calc_{k}", GPT3_PRESET[k])
c = st.columns([1, 1, 1, 1])
c[0].button("GPT-3 preset", on_click=apply_preset, args=(GPT3_PRESET,), key="mech_preset_gpt3", width="stretch")
c[1].button(
    f"{ctx.model_title} shape", on_click=apply_preset, args=(loaded,), key="mech_preset_loaded", width="stretch"
)
cols = st.columns(4)
values = {
    k: int(cols[i].number_input(LABELS[k], 1, 1_000_000, step=1, key=f"mech_calc_{k}", help=MEANINGS[k]))
    for i, k in enumerate(FIELDS)
}
b = breakdown(**values)
st.dataframe(
    b.rows(), hide_index=True, width="stretch", column_config=right_aligned(b.COUNT_COLUMNS), key="mech_calc_table"
)
m1, m2, m3 = st.columns(3)
# Rounded so the value fits its column at 1024 px (Streamlit cuts a metric with "…"); the table above is exact.
for column, label, count in zip(
    (m1, m2, m3),
    ("Each matrix, per head", "Attention, per layer", "Attention, all layers"),
    (b.per_matrix_per_head, b.per_layer, b.total),
    strict=True,
):
    column.metric(label, human_count(count), help=f"Exactly {count:,}.")
if values == GPT3_PRESET:
    st.success(
        f"GPT-3: {b.total:,} attention parameters out of {GPT3_TOTAL:,} in all (embedding, unembedding, attention and "
        f"MLP matrices), {b.total / GPT3_TOTAL:.1%}: about a third.",
        icon=":material/check:",
    )
if cfg.is_encoder_decoder and values == loaded:
    st.caption(
        f"{ctx.model_title} is an encoder-decoder: its layers here are its "
        f"{sublayer_words(cfg.n_layers, cfg.n_decoder_layers)}."
    )
if cfg.kv_latent_rank and values == loaded:  # DeepSeek: attention_core/latent.py
    st.caption(
        f"{ctx.model_title} uses multi-head latent attention, not four d_model × d_head maps per head: its keys and "
        f"values are read up from one shared latent of {cfg.kv_latent_rank} numbers per token, its values are "
        f"{cfg.d_value} wide, so this calculator's count is the chapter's formula for its shape; its real count is "
        "below."
    )
elif len(cfg.attention_layers) < cfg.n_layers and values == loaded:  # a hybrid: attention_core/mixers.py KINDS
    st.caption(
        f"{ctx.model_title} is a hybrid: {len(cfg.attention_layers)} of its {cfg.n_layers} layers attend (layers "
        f"{', '.join(map(str, cfg.attention_layers))}), so the calculator counts those; the others run "
        + cfg.other_mixers_words()
        + " instead, whose weights are counted in the rows below"
        + (", and its grouped-query attention stores fewer key and value-down maps than this counts." if
           cfg.n_kv_heads != cfg.n_heads else ".")
    )  # fmt: skip
elif cfg.layer_weights and values == loaded:  # ALBERT: attention_core/shared_layers.py
    st.caption(
        f"{ctx.model_title}'s {cfg.n_layers} layers share their weights: they run "
        + ("one block's" if cfg.stored_layers == 1 else f"{cfg.stored_layers} blocks'")
        + " maps, stored once, so this calculator counts every layer's maps and its real count is lower; see below."
    )
elif cfg.n_kv_heads != cfg.n_heads and values == loaded:
    st.caption(
        f"{ctx.model_title} uses grouped-query attention: only {cfg.n_kv_heads} key and value-down maps per layer are "
        "stored (shared by several query heads), so its real count is lower than this calculator's; see below."
    )

# ── the loaded model ─────────────────────────────────────────────────────────────────────────────
st.header(f"{ctx.model_title}: every parameter, counted from its tensors")
with st.container(key="parameters_loaded"):  # keyed for the browser test (a plain table has no key of its own)
    # Every row: a model has a dozen kinds of parameter, and the "total" row is the one a reader looks for.
    st.dataframe(
        loaded_breakdown(model), hide_index=True, width="stretch", height="content",
        column_config=right_aligned(["parameters", "share"]), key="mech_loaded_table",
    )  # fmt: skip

# ── context size ─────────────────────────────────────────────────────────────────────────────────
st.header("Context size: the pattern grows as n²")
n_ctx = cfg.n_ctx
lengths = context_lengths(n_ctx)
L, H = cfg.attention_sublayers, cfg.n_heads
which = f"(its {sublayer_words(cfg.n_layers, cfg.n_decoder_layers)}, at one length) "
if len(cfg.attention_layers) < cfg.n_layers:  # a hybrid's other layers have no pattern
    which = f"(its {counted(L, 'attention layer')} of {cfg.n_layers}) "
st.caption(
    f"One pass computes one n × n pattern per head per layer: {L} × {H} × n² weights for {ctx.model_title} "
    + (which if cfg.is_encoder_decoder or L < cfg.n_layers else "")
    + f"(trained context {n_ctx:,} tokens). Memory if they were all kept at once:"
)
c1, c2 = st.columns(2)
with c1:
    show_chart(
        context_growth(
            lengths,
            [pattern_bytes(L, H, n, 2) for n in lengths],
            [pattern_bytes(L, H, n, 4) for n in lengths],
            f"All attention patterns of {ctx.model_title_plain}",
        ),
        key="mech_ctx_growth",
    )
with c2:
    st.dataframe(
        [
            {
                "tokens n": n,
                "pattern entries": pattern_entries(L, H, n),
                "fp16": human_bytes(pattern_bytes(L, H, n, 2)),
                "fp32": human_bytes(pattern_bytes(L, H, n, 4)),
            }
            for n in lengths
        ],
        hide_index=True,
        width="stretch",
        column_config=COUNTS | right_aligned(["fp16", "fp32"]),
        key="mech_ctx_table",
    )
g = GPT3_PRESET
st.caption(
    f"For comparison, GPT-3 ({g['n_layers']} layers × {g['n_heads']} heads) at its 2,048-token context: "
    f"{pattern_entries(g['n_layers'], g['n_heads'], 2048):,} entries, "
    f"{human_bytes(pattern_bytes(g['n_layers'], g['n_heads'], 2048, 2))} at fp16. The engine never holds them all: "
    "it keeps O(n·d) per layer and computes a head's pattern when asked."
)

st.subheader("Measured on this machine")
options = [n for n in (64, 256, 1024, 2048, 4096) if n <= model.max_tokens]
chosen = st.multiselect(
    "Lengths to time (tokens)",
    options,
    default=[n for n in (64, 256, 1024) if n in options],
    key="mech_measure_lengths",
)
timings_key = f"_mech_timings_{ctx.model_name}_{ctx.device}"
if st.button("Measure", key="mech_measure", icon=":material/timer:", disabled=not chosen):
    with st.spinner("Timing model.trace…"):
        found = {t.n_tokens: t for t in st.session_state.get(timings_key, [])}
        found.update({t.n_tokens: t for t in measure_trace(model, chosen)})
        st.session_state[timings_key] = sorted(found.values(), key=lambda t: t.n_tokens)
timings = st.session_state.get(timings_key, [])
if not timings:
    st.caption("Nothing measured yet: pick lengths and press Measure. Only measured numbers are shown here.")
else:
    st.caption(
        f"Best of {timings[0].repeats} runs of model.trace (the forward pass on {model.device.type.upper()}, capturing "
        "q, k, v and the residuals; patterns are computed later, per head, when a view asks)."
    )
    c1, c2 = st.columns(2)
    with c1:
        show_chart(
            timing_figure(
                [t.n_tokens for t in timings],
                [t.seconds for t in timings],
                f"model.trace time, {ctx.model_title_plain}",
            ),
            key="mech_timing_chart",
        )
    with c2:
        st.dataframe(
            [
                {
                    "tokens": t.n_tokens,
                    "seconds": t.seconds,
                    "pattern entries": pattern_entries(L, H, t.n_tokens),
                }
                for t in timings
            ],
            hide_index=True,
            width="stretch",
            column_config=COUNTS | fixed_decimals(["seconds"]),
            key="mech_timing_table",
        )
