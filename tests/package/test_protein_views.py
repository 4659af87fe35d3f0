"""A protein model in a notebook: the contacts view draws what the patterns page's contact section draws (the same
service and figure builder), and refuses by name a model without a contact head and a text without two residues."""

from __future__ import annotations

import numpy as np
import pytest

from attention_core import load_model
from attention_viz import ViewError, build_view
from tests.app.helpers import decode

pytest.importorskip("transformers")
PROTEIN = "MKTAYIAKQRQISFVKSHFSRQ"


@pytest.fixture(scope="module")
def esm(tmp_path_factory):
    from tests.tiny_models_later import save_tiny_esm

    folder = tmp_path_factory.mktemp("esm")
    save_tiny_esm(folder)
    return load_model(str(folder), device="cpu")


def test_the_contacts_view_draws_the_contact_map(esm) -> None:
    from services.lens import contacts_of

    trace = esm.trace(PROTEIN)
    view = build_view(trace, "contacts", layer=1, head=3)  # a layer and head of its own it has not: they are ignored
    z = np.asarray(decode(view.figures[0].to_plotly_json()["data"][0]["z"]), dtype=float)
    assert np.array_equal(z, contacts_of(trace)) and z.shape == (len(PROTEIN),) * 2
    assert "contact head reads every head's pattern over the 22 residues" in view.note


def test_the_contacts_view_refuses_what_it_cannot_draw(esm, tmp_path) -> None:
    from tests.tiny_models_later import save_tiny_esmc

    with pytest.raises(ViewError, match="fewer than two residues"):
        build_view(esm.trace("M"), "contacts")
    save_tiny_esmc(tmp_path / "esmc")
    with pytest.raises(ViewError, match="has no contact head"):
        build_view(load_model(str(tmp_path / "esmc"), device="cpu").trace(PROTEIN), "contacts")


def test_the_residues_view_draws_what_the_logit_lens_page_draws(esm, tiny_model) -> None:
    from services.lens import residue_logprobs_of

    trace = esm.trace(PROTEIN)
    view = build_view(trace, "residues")
    z = np.asarray(decode(view.figures[0].to_plotly_json()["data"][0]["z"]), dtype=float)
    logp, positions = residue_logprobs_of(trace)
    assert positions == list(range(1, len(PROTEIN) + 1)) and np.array_equal(z, np.maximum(logp.T, -10.0))
    assert "masked-language-model head at each of the 22 residues" in view.note and "`" not in view.note
    with pytest.raises(ViewError, match="not a protein model loaded with its masked-language-model head"):
        build_view(load_model(tiny_model).trace("a fluffy creature"), "residues")  # a tiny GPT-2
