"""A protein model in the app: a tiny ESM-2 (tests.tiny_models_later.save_tiny_esm, its contact head included) loaded
through *Another model* with a protein sequence as its text. The patterns page adds the contacts its contact head
predicts from every head's pattern (attention_core/contacts.py): the residue × residue map, its words and the
likeliest long-range pairs; ESM C, which has no contact head, gets no such section."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import chart, decode
from tests.app.test_architecture_features import APP
from tests.tiny_folders import tiny_folder

pytest.importorskip("transformers")

PROTEIN = "MKTAYIAKQRQISFVKSHFSRQ"


def opened(private_models, kind: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "patterns", "text": PROTEIN})
    at.run()
    at.text_input(key="model_request").set_value(str(tiny_folder(private_models, kind)))
    at = at.button(key="model_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_patterns_page_draws_the_contacts_esm_predicts_from_attention(private_models) -> None:
    at = opened(private_models, "esm")
    assert "Contacts predicted from attention" in [h.value for h in at.subheader]
    fig = chart(at, "contact_map")
    z = np.asarray(decode(fig["data"][0]["z"]), dtype=float)
    assert z.shape == (len(PROTEIN),) * 2 and np.allclose(z, z.T, atol=1e-6) and 0 < z.min() <= z.max() < 1
    assert fig["layout"]["xaxis"]["ticktext"][:3] == ["M1", "K2", "T3"]
    said = " ".join(c.value for c in at.caption)
    assert f"over the {len(PROTEIN)} residues" in said and "contacts expected in all" in said
    table = at.dataframe[-1].value
    assert list(table.columns) == ["residue", "with", "apart", "probability"] and len(table) == 10
    assert (table["apart"] >= 6).all() and table["probability"].is_monotonic_decreasing


def test_a_model_without_a_contact_head_draws_no_contacts(private_models) -> None:
    at = opened(private_models, "esmc")
    assert "Contacts predicted from attention" not in [h.value for h in at.subheader]


def test_a_protein_model_offers_a_protein_and_a_text_model_does_not(private_models) -> None:
    """The chapter's examples are all <unk> to ESM: its sidebar offers human ubiquitin, whose 76 residues become 76
    tokens between <cls> and <eos>; SmolLM2's sidebar has no such button."""
    at = opened(private_models, "esm")
    at = at.sidebar.button(key="example_protein").click().run()
    assert not at.exception and at.session_state["text"].startswith("MQIFVKTLTG")
    assert "over the 76 residues" in " ".join(c.value for c in at.caption)
    plain = AppTest.from_file(APP, default_timeout=180)
    plain.query_params.update({"page": "patterns"})
    plain.run()
    assert not any(b.key == "example_protein" for b in plain.sidebar.button)


def test_the_logit_lens_shows_what_esm_expects_at_each_residue(private_models) -> None:
    """ESM's masked-language-model head at every residue: log p of the 20 amino acids, transformers' own numbers
    (EsmForMaskedLM's log softmax), the residue's own amino acid ringed, the least expected listed."""
    import torch
    import transformers

    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "logit_lens", "text": PROTEIN})
    at.run()
    folder = tiny_folder(private_models, "esm")
    at.text_input(key="model_request").set_value(str(folder))
    at = at.button(key="model_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "What the model expects at each residue" in [h.value for h in at.subheader]
    fig = chart(at, "residue_map")
    z = np.asarray(decode(fig["data"][0]["z"]), dtype=float)
    tokenizer = transformers.EsmTokenizer.from_pretrained(str(folder))
    ids = tokenizer(PROTEIN, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        logp = transformers.EsmForMaskedLM.from_pretrained(str(folder)).eval()(ids).logits[0].log_softmax(-1)
    letters = [tokenizer.convert_tokens_to_ids(a) for a in "ACDEFGHIKLMNPQRSTVWY"]
    expected = logp[1:-1, letters].T.double().numpy()  # residues only: not <cls>, <eos>
    assert z.shape == (20, len(PROTEIN)) and np.allclose(z, np.maximum(expected, -10.0), atol=1e-4)
    assert list(fig["data"][1]["y"]) == list(PROTEIN)  # each residue's own amino acid ringed
    table = at.dataframe[-1].value
    assert list(table.columns) == ["residue", "p(own)", "expected", "p(expected)"] and len(table) == 10
    assert table["p(own)"].is_monotonic_increasing


def test_a_text_model_has_no_residue_section() -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"page": "logit_lens"})
    at.run()
    assert not at.exception and "What the model expects at each residue" not in [h.value for h in at.subheader]
