"""The Experiments page's chosen token follows the text and the model. Its select box was keyed by the position
alone, so Streamlit kept the last pick whenever that id was still among the new options: after a text change the
page scored the old text's next token (or the old top-1) while saying it chose the new one, and after a model switch
it scored an id picked in the other model's vocabulary."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP, keyed
from tests.gguf_writer import save_tiny_gguf
from viz.views.experiments import next_token_logprobs, top_ids

TIMEOUT = 300  # the machine's 2 cores are shared


def open_experiments(text: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"page": "experiments", "text": text})
    at.run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def chosen(at: AppTest) -> str:
    found = [c.value for c in at.caption if c.value.startswith("Chosen token:")]
    assert len(found) == 1, [c.value for c in at.caption]
    return found[0]


def test_a_new_text_scores_its_own_next_token_at_the_same_position() -> None:
    at = open_experiments("the cat sat on the mat")
    keyed(at, "selectbox", "exp_predict_at").set_value(4).run()  # "4: ␣the": next comes ' mat'
    assert chosen(at).startswith("Chosen token: ‘␣mat’ (the token that comes next in your text)")
    at.text_area(key="text").set_value("the cat sat on the rug today").run()  # ' mat' is still in the top 10 there
    assert_clean(at)
    assert keyed(at, "selectbox", "exp_predict_at").value == 4  # the same token at the same place: kept
    assert chosen(at).startswith("Chosen token: ‘␣rug’ (the token that comes next in your text)"), chosen(at)


def test_a_new_text_opens_on_its_own_top_prediction_after_the_text(smollm) -> None:
    old, new = "the cat sat on the mat", "hello world"
    top_old = top_ids(next_token_logprobs(smollm.trace(old)), 10)
    top_new = top_ids(next_token_logprobs(smollm.trace(new)), 10)
    assert top_old[0] in top_new[1:]  # the old top-1 is among the new options, not first: Streamlit kept it
    at = open_experiments(old)
    assert keyed(at, "selectbox", "exp_token").value == top_old[0]
    at.text_area(key="text").set_value(new).run()
    assert_clean(at)
    assert keyed(at, "selectbox", "exp_token").value == top_new[0]
    assert chosen(at).startswith(f"Chosen token: ‘{smollm.tokenizer.decode_token(top_new[0])}’, p = "), chosen(at)


def test_a_model_switch_does_not_read_the_old_models_id_in_the_new_vocabulary(private_models, smollm) -> None:
    from attention_core import load_model

    text = "the blue creature took a mole"
    path = save_tiny_gguf(private_models / "models" / "tiny-llama.gguf")
    tiny = load_model(str(path), device="cpu")
    top_tiny = top_ids(next_token_logprobs(tiny.trace(text)), 10)
    shared = 284  # SmolLM2's ' and' is in its top 10 here, and id 284 in the tiny model's (another token)
    assert shared in top_ids(next_token_logprobs(smollm.trace(text)), 10) and shared in top_tiny[1:]
    at = open_experiments(text)
    keyed(at, "selectbox", "exp_token").set_value(shared).run()
    assert chosen(at).startswith("Chosen token: ‘␣and’")
    at.text_input(key="model_request").set_value(str(path))
    at.button(key="model_load").click().run()
    assert_clean(at)
    assert at.session_state["model"] == str(path)
    assert keyed(at, "selectbox", "exp_token").value == top_tiny[0]  # the new model's top-1, as on a fresh page
