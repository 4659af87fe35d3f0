"""A hybrid in a notebook and on the command line: a tiny LFM2 (tests.tiny_models_hybrid: layers 0 and 2 mix tokens
by a short convolution, 1 and 3 attend). The views that draw a layer's heads refuse a convolution layer by name;
those that do not (lens, contribution graph, overview) take any; the overview leaves the convolution layers blank;
a short tensor name exports attention's tensors of the attention layers alone. The implicit view draws a delta rule's
head (Qwen3.5) and a scan's beside the heads (Falcon-H1)."""

from __future__ import annotations

import numpy as np
import pytest

from attention_core import load_model
from attention_viz import ViewError, build_view, collect, tensor_names
from tests.app.helpers import decode

pytest.importorskip("transformers")
TEXT = "the blue creature took a mole of the forest"


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    from tests.tiny_models_hybrid import save_tiny_lfm2

    folder = tmp_path_factory.mktemp("lfm2")
    save_tiny_lfm2(folder)
    return load_model(str(folder), device="cpu").trace(TEXT)


@pytest.mark.parametrize("name", ["head", "layer", "scores", "steps", "sent", "shifts"])
def test_a_view_of_a_convolution_layers_heads_is_refused_by_name(trace, name) -> None:
    with pytest.raises(ViewError, match="layer 2 of .* has no attention heads .*short convolution.*are 1, 3"):
        build_view(trace, name, layer=2, head=0)
    assert build_view(trace, name, layer=3, head=0).figures  # an attention layer draws


def test_the_views_without_a_layers_heads_take_any_layer(trace) -> None:
    for name in ("lens", "contributions"):
        assert build_view(trace, name).figures, name  # layer 0, a convolution layer, is the default
    view = build_view(trace, "overview", layer=0, head=2)
    assert view.layer == 1 and view.head == 2  # the large head: the first attention layer's
    image = view.figures[0].data[0]
    z = np.asarray(decode(image.z) if isinstance(image.z, dict) else image.z, dtype=float)
    band = z.shape[1] // 4 + 1  # one layer's thumbnails and the gap after them
    assert [bool(np.isnan(z[:, at * band : at * band + band - 1]).all()) for at in range(4)] == [
        True, False, True, False]  # fmt: skip
    assert set(view.heads) == {f"{layer},{head}" for layer in (1, 3) for head in range(4)}  # clickable: real heads


def test_short_tensor_names_export_attentions_tensors_of_the_attention_layers(trace) -> None:
    names = tensor_names(trace, ["pattern", "resid", "attn_out"])
    assert [n for n in names if ".attn." in n] == ["blocks.1.attn.pattern", "blocks.3.attn.pattern"]
    assert [n for n in names if n.endswith("resid_pre")] == [f"blocks.{layer}.resid_pre" for layer in range(4)]
    arrays = collect(trace, names + ["blocks.0.conv_out"])
    assert arrays["blocks.0.conv_out"].shape == (trace.n_tokens, 64)


@pytest.fixture(scope="module")
def delta_folder(tmp_path_factory):
    from tests.tiny_models_hybrid import save_tiny_qwen3_5

    folder = tmp_path_factory.mktemp("qwen3_5")  # layers 0 and 2: the gated delta rule; 1 and 3 attend
    save_tiny_qwen3_5(folder)
    return folder


def test_the_implicit_view_draws_a_delta_rules_head_and_refuses_other_layers(trace, delta_folder) -> None:
    from services.lens import implicit_weights_of

    delta = load_model(str(delta_folder), device="cpu").trace(TEXT)
    view = build_view(delta, "implicit", layer=2, head=3)
    z = decode(view.figures[0].data[0].z)
    assert np.allclose(np.nan_to_num(z), implicit_weights_of(delta, 2, 0, delta.n_tokens)[3]) and np.isnan(z[0, 1])
    assert "Row sums run from" in view.note and "gated delta rule" in view.figures[0].layout.title.text
    with pytest.raises(ViewError, match="layer 1 of .* runs attention: the implicit view draws .*\\[0, 2\\]"):
        build_view(delta, "implicit", layer=1, head=0)
    with pytest.raises(ViewError, match="head 4 is out of range: layer 2 has heads 0..3"):
        build_view(delta, "implicit", layer=2, head=4)
    with pytest.raises(ViewError, match="runs a short convolution: .*this model has none"):
        build_view(trace, "implicit", layer=0, head=0)  # LFM2's convolution: no weight per head


def test_the_cli_writes_the_implicit_view(delta_folder, tmp_path, capsys) -> None:
    from attention_viz import cli

    out = tmp_path / "delta.html"
    argv = ["export", "--model", str(delta_folder), "--text", TEXT, "--view", "implicit", "--layer", "0"]
    argv += ["-o", str(out)]
    assert cli.main(argv) == 0 and "Row sums run from" in out.read_text()


def test_falcon_h1s_scans_beside_the_heads_in_a_notebook(tmp_path_factory) -> None:
    from services.lens import implicit_weights_of
    from tests.tiny_models_hybrid import save_tiny_falcon_h1

    folder = tmp_path_factory.mktemp("falcon_h1")  # three layers, each attention beside a Mamba-2 scan
    save_tiny_falcon_h1(folder)
    falcon = load_model(str(folder), device="cpu").trace(TEXT)
    view = build_view(falcon, "implicit", layer=1, head=2)  # every layer has a scan, and heads
    drawn = np.nan_to_num(decode(view.figures[0].data[0].z))
    assert np.allclose(drawn, implicit_weights_of(falcon, 1, 0, falcon.n_tokens)[2])
    assert "attention and Mamba-2 scan" in view.figures[0].layout.title.text
    hover = " ".join(str(h) for d in build_view(falcon, "contributions").figures[0].data for h in (d.hovertext or ()))
    assert "after block 1's attention and Mamba-2 scan" in hover
    arrays = collect(falcon, ["blocks.1.ssm_out", "blocks.1.attn_out", "blocks.1.resid_mid", "blocks.1.resid_pre"])
    whole = arrays["blocks.1.resid_pre"] + arrays["blocks.1.attn_out"] + arrays["blocks.1.ssm_out"]
    assert np.abs(whole - arrays["blocks.1.resid_mid"]).max() <= 1e-4  # the scan's part, apart from the heads'
