"""AppTest of the Experiments page through the real shell (app.py): every drawn number is the engine's.

The all-heads sweep runs once in this module (on a 4-token text, the cheapest real sweep).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from attention_core import ablate_head
from tests.app.fit import cut_off_metric_labels, cut_off_metric_values
from tests.app.helpers import ROOT, decode, keyed  # one decoder for Plotly's base64 arrays
from tests.experiments.test_position_parity import DURSLEY, SECOND_D
from tests.texts import DEFAULT_TEXT, SHORT_TEXT
from viz.labels import plotly_token
from viz.views.experiments import next_token_logprobs, row_entropy, top_ids

APP = str(ROOT / "app.py")
PAGE = "app_pages/experiments.py"
TIMEOUT = 300  # two other engineers share these 2 cores; the sweep alone can take a minute under load


def chart(at: AppTest, key: str) -> dict:
    for element in at.get("plotly_chart"):
        if getattr(element, "key", None) == key:
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key!r}; have {[getattr(e, 'key', None) for e in at.get('plotly_chart')]}")


def chart_keys(at: AppTest) -> set[str]:
    return {getattr(e, "key", None) for e in at.get("plotly_chart")}


def open_page(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"page": "experiments", **params})
    at.run()
    assert_clean(at)
    assert at.title[0].value == "Experiments", [t.value for t in at.title]
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metric(at: AppTest, label_start: str) -> str:
    for m in at.metric:
        if m.label.startswith(label_start):
            return m.value
    raise AssertionError(f"no metric {label_start!r}; have {[m.label for m in at.metric]}")


def test_next_token_panel_shows_the_models_top_10(fluffy) -> None:
    at = open_page(layer="0", head="2")
    fig = chart(at, "exp_next")
    expected = torch.softmax(fluffy.next_token_logits().double(), -1)
    top = torch.topk(expected, 10)
    np.testing.assert_allclose(decode(fig["data"][0]["x"]), top.values.numpy(), atol=1e-6)
    names = [f"‘{plotly_token(fluffy.decode_token(int(i)))}’" for i in top.indices]
    assert fig["layout"]["yaxis"]["ticktext"] == names and names[:2] == ["‘,’", "‘.’"]
    # Browser review: the chosen-token box read ",  (p = 0.455)", a bare comma where the bars and the caption quote it.
    box = keyed(at, "selectbox", "exp_token_")
    assert list(box.options[:2]) == ["‘,’  (p = 0.455)", "‘.’  (p = 0.239)"], box.options
    assert "exp_compare" not in chart_keys(at)  # no experiment yet
    assert any("No changes yet" in i.value for i in at.info)


def test_ablating_L0H2_changes_the_top_prediction(smollm, fluffy) -> None:
    """The finding, through the page: add 'zero-ablate' for the selected head (layer 0, head 2)."""
    at = open_page(layer="0", head="2")
    at.button(key="exp_add").click().run()
    assert_clean(at)
    after = smollm.trace(DEFAULT_TEXT, interventions=[ablate_head(0, 2)])
    before_lp, after_lp = next_token_logprobs(fluffy), next_token_logprobs(after)
    comma = int(np.argmax(before_lp))
    shown = metric(at, "Δ log p(‘,’)")
    assert shown == f"{after_lp[comma] - before_lp[comma]:+.3f}"  # the engine's number, as the page shows it
    assert float(shown) == pytest.approx(-3.79, abs=0.005)  # the finding (the last digit is float32 rounding)
    assert metric(at, "p after (before: 0.455)") == f"{np.exp(after_lp[comma]):.3f}"
    assert cut_off_metric_values(at) == []  # "p before → after" showed "0.455 → 0…" at 1024 px
    assert cut_off_metric_labels(at) == []
    assert at.success[0].value.startswith("The top prediction changed: ‘,’ (p = 0.455) → ‘␣’ (p = 0.613)")
    assert any("L0H2: output set to zero" in c.value for c in at.code)
    compare = chart(at, "exp_compare")
    assert {d["name"] for d in compare["data"]} == {"before", "after"}
    drift = decode(chart(at, "exp_drift")["data"][-1]["y"])  # the bold line: the last position by default
    final = after.resid(30)[-1].double() - fluffy.resid(30)[-1].double()
    expected = float(final.norm() / fluffy.resid(30)[-1].double().norm())
    assert drift[0] == 0.0 and drift[-1] == pytest.approx(expected, rel=1e-4)  # float32 residuals on both sides
    # Remove it again: back to no experiment.
    at.button(key="exp_remove_0").click().run()
    assert_clean(at)
    assert "exp_compare" not in chart_keys(at)


def test_temperature_at_its_default_tells_the_model_from_the_chosen_t() -> None:
    """At T = 1 both metrics were titled "Mean row entropy at T = 1" and the legend read "T = 1 (the model)" beside
    "T = 1": which is which must show in the labels."""
    at = open_page(layer="5", head="1")
    entropy_labels = [m.label for m in at.metric if "entropy" in m.label]
    assert len(entropy_labels) == 2 and len(set(entropy_labels)) == 2, entropy_labels
    names = [d["name"] for d in chart(at, "exp_temperature")["data"][1:3]]
    assert names[0] != names[1] and "the model" in names[0], names


def test_temperature_slider_redraws_the_pattern_and_entropy(smollm, fluffy) -> None:
    at = open_page(layer="5", head="1")
    at.select_slider(key="exp_T").set_value(0.25).run()
    assert_clean(at)
    fig = chart(at, "exp_temperature")
    cold = smollm.trace(DEFAULT_TEXT, interventions=[torch_free_temperature(5, 1, 0.25)])
    np.testing.assert_allclose(decode(fig["data"][0]["z"]), cold.pattern(5, 1).numpy(), atol=1e-6)
    np.testing.assert_allclose(decode(fig["data"][1]["x"]), row_entropy(fluffy.pattern(5, 1).numpy()), atol=1e-5)
    np.testing.assert_allclose(decode(fig["data"][2]["x"]), row_entropy(cold.pattern(5, 1).numpy()), atol=1e-5)
    assert metric(at, "Mean entropy at T = 0.25") == f"{row_entropy(cold.pattern(5, 1).numpy()).mean():.3f} bits"
    assert cut_off_metric_values(at) == []
    assert cut_off_metric_labels(at) == []  # the longest T's labels: "Mean row entropy, the mod…" was cut at 1024 px
    at.button(key="exp_T_add").click().run()  # the same change joins the experiment
    assert any("L5H1: scores ÷ T with T = 0.25" in c.value for c in at.code)


def torch_free_temperature(layer: int, head: int, T: float):
    from attention_core import temperature

    return temperature(layer, head, T)


def test_head_ranking_matches_single_ablations(smollm) -> None:
    at = open_page(text=SHORT_TEXT)
    assert "exp_sweep_map" not in chart_keys(at)  # the sweep waits for the button
    at.button(key="exp_sweep").click().run()
    assert_clean(at)
    sweep = decode(chart(at, "exp_sweep_map")["data"][0]["z"])
    assert sweep.shape == (30, 9)
    table = at.dataframe[-1].value  # the ranking table of this section
    best = table.iloc[0]
    layer, head = int(best["layer"]), int(best["head"])
    assert sweep[layer, head] == sweep.min() == pytest.approx(best["Δ log p"])
    clean = smollm.trace(SHORT_TEXT)
    target = int(np.argmax(next_token_logprobs(clean)))
    single = next_token_logprobs(smollm.trace(SHORT_TEXT, interventions=[ablate_head(layer, head)]))
    assert best["Δ log p"] == pytest.approx(single[target] - next_token_logprobs(clean)[target], abs=1e-4)
    at.button(key="exp_add_top").click().run()  # the top head joins the experiment
    assert_clean(at)
    assert any(f"L{layer}H{head}: output set to zero" in c.value for c in at.code)
    assert "exp_sweep_map" in chart_keys(at)  # cached: drawn again without a click


def test_encoder_says_plainly_it_cannot_predict_a_mask() -> None:
    at = open_page(model="minilm-l6", text="the cat sat on the [MASK]")
    text = " ".join(i.value for i in at.info)
    assert "carries no masked-language-model head" in text and "cls.predictions" not in text  # MiniLM's has none
    assert "exp_next" not in chart_keys(at)
    at.button(key="exp_add").click().run()
    assert_clean(at)
    assert "exp_drift" in chart_keys(at) and "exp_compare" not in chart_keys(at)
    assert "exp_temperature" in chart_keys(at)


def test_hostile_text_is_escaped_in_every_chart() -> None:
    at = open_page(text="<b>bold</b> & <br> <script>x</script>")
    at.button(key="exp_add").click().run()
    assert_clean(at)
    for key in ("exp_drift", "exp_temperature"):
        spec = json.dumps(chart(at, key))
        assert "<b>" not in spec and "<script>" not in spec and "&lt;" in spec


def test_a_cut_texts_prediction_is_named_after_the_last_token_read() -> None:
    # The chart title named the end of the whole text while the prediction was the one after the token cap's cut.
    text = "the cat sat on the mat and then it slept for a long time FINALMARKER zebra."
    at = open_page(text=text)
    at.number_input(key="max_tokens").set_value(6).run()
    assert_clean(at)
    title = chart(at, "exp_next")["layout"]["title"]["text"]
    assert "FINALMARKER" not in title and "the mat" in title, title


def test_a_middle_position_is_scored_on_the_token_that_comes_next(smollm) -> None:
    """Induction: after the second "Mr and Mrs D" the model should say "urs". Pick that position: the chart, the
    chosen token, Δ log p of an experiment and the temperature metric all read the prediction there."""
    at = open_page(text=DURSLEY, layer="1", head="3")
    last_title = chart(at, "exp_next")["layout"]["title"]["text"]
    picker = keyed(at, "selectbox", "exp_predict_at")
    assert picker.value == len(picker.options) - 1  # the last token by default: today's page
    picker.set_value(SECOND_D).run()
    assert_clean(at)
    fig = chart(at, "exp_next")
    title = fig["layout"]["title"]["text"]
    assert title != last_title and "Mrs D” (token 28)" in title, title
    clean = smollm.trace(DURSLEY)
    want = torch.log_softmax(clean.logits[SECOND_D].double(), -1).numpy()  # the engine's logits at position 28
    top = top_ids(want, 10)
    np.testing.assert_allclose(decode(fig["data"][0]["x"]), np.exp(want[top]), atol=1e-5)
    urs = clean.token_ids[SECOND_D + 1]
    assert smollm.tokenizer.decode_token(urs) == "urs" and top[0] == urs
    chosen = [c.value for c in at.caption if c.value.startswith("Chosen token:")]
    assert chosen and chosen[0].startswith("Chosen token: ‘urs’ (the token that comes next in your text), p = ")
    assert f"log p = {want[urs]:.3f}, rank 1 of" in chosen[0]
    at.button(key="exp_add").click().run()  # zero layer 1, head 3 (an induction-circuit head here)
    assert_clean(at)
    after = smollm.trace(DURSLEY, interventions=[ablate_head(1, 3)])
    dlogp = next_token_logprobs(after, SECOND_D)[urs] - next_token_logprobs(clean, SECOND_D)[urs]
    assert metric(at, "Δ log p(‘urs’)") == f"{dlogp:+.3f}" and dlogp < -0.5
    assert "After token 28" in chart(at, "exp_compare")["layout"]["title"]["text"]
    assert cut_off_metric_values(at) == []


def test_a_middle_position_computes_only_its_own_prediction(monkeypatch) -> None:
    """The page unembedded the last position too (and the same row again for the temperature metric at T = 1)."""
    from attention_core.trace import Trace

    asked: list[int] = []
    real = Trace.next_token_logits

    def counting(self, position: int = -1):
        asked.append(range(self.n_tokens)[position])
        return real(self, position)

    monkeypatch.setattr(Trace, "next_token_logits", counting)
    at = open_page(text=SHORT_TEXT)
    assert asked == [3]  # "one mole of carbon": the last token, once
    asked.clear()
    keyed(at, "selectbox", "exp_predict_at").set_value(1).run()
    assert_clean(at)
    assert asked == [1]


def test_the_ranking_at_a_middle_position_is_its_own_sweep(smollm) -> None:
    """The sweep at token 1 ranks heads for the token after token 1 (' of' after 'one mole'); the last position's
    ranking is another sweep, not that one served again."""
    at = open_page(text=SHORT_TEXT)
    keyed(at, "selectbox", "exp_predict_at").set_value(1).run()
    at.button(key="exp_sweep").click().run()
    assert_clean(at)
    fig = chart(at, "exp_sweep_map")
    assert "after token 1" in fig["layout"]["title"]["text"]
    sweep = decode(fig["data"][0]["z"])
    best = at.dataframe[-1].value.iloc[0]
    layer, head = int(best["layer"]), int(best["head"])
    clean = smollm.trace(SHORT_TEXT)
    target = clean.token_ids[2]
    single = next_token_logprobs(smollm.trace(SHORT_TEXT, interventions=[ablate_head(layer, head)]), 1)[target]
    assert sweep[layer, head] == pytest.approx(single - next_token_logprobs(clean, 1)[target], abs=1e-4)
    keyed(at, "selectbox", "exp_predict_at").set_value(3).run()  # back to the last token, the same token typed
    keyed(at, "selectbox", "exp_token").set_value(-1).run()
    at.text_input(key="exp_typed").set_value(" of").run()
    assert_clean(at)
    assert any(c.value.startswith("Chosen token: ‘␣of’") for c in at.caption)
    assert "exp_sweep_map" not in chart_keys(at) and any(b.key == "exp_sweep" for b in at.button)
