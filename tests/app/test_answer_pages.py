"""An extractive question-answering model in the app: a tiny BertForQuestionAnswering (tests.tiny_masked_lms) loaded
through *Another model*, a question typed as the text and a context as the second text. The Logit lens page shows
its answer, decoded from transformers' own start and end logits as its question-answering pipeline decodes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attention_core.classify import answer_ablation_sweep, answer_logits_by_layer
from tests.app.helpers import chart, decode
from tests.app.test_masked_lm_pages import opened
from viz.views.answers import MAX_ANSWER_TOKENS, answer_view

transformers = pytest.importorskip("transformers")

QUESTION = "where did the blue creature roam"
CONTEXT = "the blue creature took a mole of the forest and the fox sat on the mat"


def test_the_logit_lens_page_shows_the_answer_span_of_the_context(private_models) -> None:
    at, folder = opened(private_models, "logit_lens", kind="qa_bert", text=QUESTION)
    at = at.text_area(key="second_text").set_value(CONTEXT).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "The answer, layer by layer" in [h.value for h in at.subheader]
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    enc = tokenizer(QUESTION, CONTEXT, return_offsets_mapping=True, return_token_type_ids=True)
    with torch.inference_mode():
        out = transformers.BertForQuestionAnswering.from_pretrained(folder).eval()(
            torch.tensor([enc["input_ids"]]), token_type_ids=torch.tensor([enc["token_type_ids"]]))
    # The pipeline's decoding, written out: softmax over the context's tokens, the likeliest span of ≤ 15 tokens.
    context = [i for i, (s, t) in enumerate(zip(enc.sequence_ids(), enc["offset_mapping"], strict=True))
               if s == 1 and t[1] > t[0]]  # fmt: skip
    ps = out.start_logits[0, context].softmax(-1).numpy()
    pe = out.end_logits[0, context].softmax(-1).numpy()
    joint = np.triu(np.outer(ps, pe)) * np.tril(np.ones((len(context),) * 2), MAX_ANSWER_TOKENS - 1)
    i, j = np.unravel_index(int(joint.argmax()), joint.shape)
    offsets = enc["offset_mapping"]
    answer = CONTEXT[offsets[context[i]][0] : offsets[context[j]][1]]
    said = " ".join(c.value for c in at.caption)
    assert f"Its answer: `{answer}` (positions {context[i]}–{context[j]})" in said, said
    assert f"= {ps[i]:.3f} × {pe[j]:.3f} = {ps[i] * pe[j]:.3f}" in said
    bars = chart(at, "answer_bars")["data"]
    assert np.allclose(decode(bars[0]["y"]), ps, atol=1e-4) and np.allclose(decode(bars[1]["y"]), pe, atol=1e-4)
    last = at.dataframe[-1].value.iloc[-1]
    assert last["answer"] == answer and abs(last["p(start) × p(end)"] - ps[i] * pe[j]) < 1e-4
    assert "no token grid: its answer above is what it predicts" in said


def test_experiments_and_generate_say_what_such_a_model_predicts(private_models) -> None:
    at, _ = opened(private_models, "experiments", kind="qa_bert", text=QUESTION)
    said = " ".join(i.value for i in at.info)
    assert "is an extractive question-answering model: it reads a question and a context" in said, said
    at = at.text_area(key="second_text").set_value(CONTEXT).run()
    assert "Most important heads for the answer" in [h.value for h in at.header]
    at = at.button(key="exp_sweep").click().run()
    assert not at.exception, [e.value for e in at.exception]
    trace = at.session_state["ctx"].trace
    view = answer_view(answer_logits_by_layer(trace).double().numpy(), trace)
    cands = [int(c) for c in view.candidates]
    sweep = answer_ablation_sweep(trace, cands, cands.index(view.spans[-1].start), cands.index(view.spans[-1].end))
    layer, head = divmod(int(sweep.argmin()), sweep.shape[1])  # zeroing it lowers the answer's log p the most
    [metric] = [m for m in at.metric if m.label.startswith("Most important")]
    assert metric.label == f"Most important: layer {layer}, head {head}"
    assert f"`{view.spans[-1].text}`, the model's answer" in " ".join(c.value for c in at.caption)
    at = at.button(key="exp_add_top").click().run()  # the top head, zeroed: the experiment compares the answers
    assert not at.exception, [e.value for e in at.exception]
    [table] = [df.value for df in at.dataframe if "" in df.value.columns and "answer" in df.value.columns]
    assert table[""].tolist() == ["before", "after"] and table["answer"][0] == view.spans[-1].text
    drop = float(table["p(start) × p(end)"][1]) / float(table["p(start) × p(end)"][0])
    assert drop < 1.0 or table["answer"][1] != table["answer"][0]  # the head mattered: the answer lost ground
    at.switch_page("app_pages/generate.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "points at the answer's span in the context" in " ".join(i.value for i in at.info)
