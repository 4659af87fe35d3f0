"""The sidebar's *Another model* box: a hub id or an allowed local folder, checked, described, and refused
with a message (never a traceback) when it is not allowed, not there, or too large for this machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from attention_core import load_model
from tests.app.fit import cut_off_code_lines, cut_off_metric_values, cut_off_select_options
from tests.app.helpers import decode, figure_spec
from viz.views.cross import DEFAULT_SOURCE, DEFAULT_TARGET

pytest.importorskip("transformers")

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TEXT = "the blue creature took a mole"


@pytest.fixture
def env(private_models):
    return private_models


def tiny_gpt2(root: Path, name: str = "tiny-gpt2") -> Path:
    from tests.tiny_models import save_tiny_gpt2

    folder = root / "models" / name
    folder.mkdir(parents=True)
    save_tiny_gpt2(folder)
    return folder


def request(at: AppTest, name: str) -> AppTest:
    at.text_input(key="model_request").set_value(name)
    return at.button(key="model_load").click().run()


def loaded_on_patterns(folder: Path) -> AppTest:
    """The patterns page with the model in `folder` loaded through *Another model*, checked to have loaded."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": "patterns", "text": TEXT})
    at.run()
    request(at, str(folder))
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["model"] == str(folder) and not sidebar_errors(at)
    return at


def sidebar_errors(at: AppTest) -> list[str]:
    """Each refusal under *Another model*: its heading and the reason below it (shown as text, in a code block)."""
    reasons = [c.value for c in at.sidebar.code]
    return [" ".join([e.value, *reasons]) for e in at.sidebar.error]


def test_a_refused_name_is_shown_as_text_and_cut(env) -> None:
    """The name a user typed is in the refusal as text: no bold, link, image or maths from Markdown, at most ~80
    characters of it; the app's own hint keeps its `ollama:NAME[:TAG]` (Markdown ate `[:TAG]`)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"text": TEXT})
    at.run()
    hostile = "<img src=x onerror=alert(1)> **bold** [x](javascript:alert(1)) `x` $x$ " + "y" * 3000
    request(at, hostile)
    assert not at.exception, [e.value for e in at.exception]
    heading = [e.value for e in at.sidebar.error]
    assert len(heading) == 1 and "**bold**" not in heading[0] and "<img" not in heading[0] and "$x$" not in heading[0]
    reason = at.sidebar.code[0].value
    assert "<img src=x onerror=alert(1)> **bold**" in reason and len(reason) < 600
    request(at, "  ")
    assert "ollama:NAME[:TAG]" in " ".join(c.value for c in at.sidebar.code)


def test_a_local_folder_loads_and_is_described(env) -> None:
    from attention_core import load_model

    folder = tiny_gpt2(env)
    at = loaded_on_patterns(folder)
    model = load_model(str(folder), device="cpu")
    total = model.parameter_counts()["total"]
    caption = next(c.value for c in at.sidebar.caption if "parameters" in c.value)
    assert "GPT-2 decoder" in caption and f"({total:,})" in caption and "running on CPU" in caption
    assert at.session_state["ctx"].model_label == "`tiny-gpt2` (GPT-2 decoder, 2 layers × 4 heads)"
    assert at.selectbox(key="model").value == str(folder)  # the selector lists it next to the built-in models
    heatmap = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("head_heatmap"))
    z = decode(figure_spec(heatmap)["data"][0]["z"])
    expected = model.trace(TEXT, causal=True).pattern(0, 0).numpy()
    np.testing.assert_allclose(z, expected, atol=1e-6)
    assert at.query_params["model"] == str(folder)  # the link carries it


def test_a_folder_with_only_a_sentencepiece_model_opens_with_its_tokens(env) -> None:
    """DeBERTa-v3's repositories ship spm.model and no tokenizer.json: through *Another model* the page shows the
    tokens transformers makes of the text, ▁ read as the space it stands for, and the heatmap holds the trace's
    pattern."""
    from transformers import AutoTokenizer

    from tests.slow_tokenizer_folders import DEBERTA_V3, spm_folder, with_settings
    from tests.tiny_models import save_tiny_deberta

    folder = env / "models" / "tiny-deberta-v3"
    save_tiny_deberta(folder)
    (folder / "tokenizer.json").unlink()
    with_settings(spm_folder(folder, "spm.model", DEBERTA_V3), {"do_lower_case": False, "vocab_type": "spm"})
    at = loaded_on_patterns(folder)
    trace = at.session_state["ctx"].trace
    reference = AutoTokenizer.from_pretrained(str(folder))
    ids = reference(TEXT)["input_ids"]
    assert list(trace.token_ids) == ids
    pieces = reference.convert_ids_to_tokens(ids)
    assert [trace.decode_token(i) for i in ids] == [p.replace("\u2581", " ") for p in pieces]
    heatmap = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("head_heatmap"))
    np.testing.assert_allclose(decode(figure_spec(heatmap)["data"][0]["z"]), trace.pattern(0, 0).numpy(), atol=1e-6)


def test_refusals_keep_the_working_model(env, monkeypatch) -> None:
    folder = tiny_gpt2(env)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"text": TEXT})
    at.run()
    before = at.session_state["model"]

    request(at, "/etc")  # outside the allowed folders: refused before anything is read
    assert "outside the folders this deployment allows" in sidebar_errors(at)[0]
    assert at.session_state["model"] == before and not at.exception

    request(at, "nobody-here/not-cached-model")  # a hub id, offline and not in the cache: the load fails
    assert not at.exception, [e.value for e in at.exception]
    assert "not in the local Hugging Face cache" in sidebar_errors(at)[0]
    assert at.session_state["model"] == before  # back to the model that worked
    assert "nobody-here/not-cached-model" not in at.selectbox(key="model").options

    monkeypatch.setenv("ATTN_MEMORY_LIMIT_GB", "0.0001")  # a machine with almost no free memory
    request(at, str(folder))
    assert not at.exception, [e.value for e in at.exception]
    assert "too large for this machine" in sidebar_errors(at)[0] and at.session_state["model"] == before

    monkeypatch.setenv("ATTN_PUBLIC", "1")
    request(at, "openai-community/gpt2")
    assert "only the embedded models" in sidebar_errors(at)[0] and at.session_state["model"] == before

    at.selectbox(key="model").set_value("minilm-l6").run()  # a new choice clears the old refusal
    assert not sidebar_errors(at) and not at.exception


def test_a_link_naming_a_hub_model_does_not_download_it(env) -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"model": "openai-community/gpt2", "text": TEXT})
    at.run()
    assert not at.exception
    assert at.session_state["model"] == "smollm2-135m"  # the default model shows meanwhile
    assert at.text_input(key="model_request").value == "openai-community/gpt2"  # one click away
    assert any("press **Load**" in w.value for w in at.warning)
    assert not (env / "hub").exists()  # nothing was fetched
    # Until the user decides, the address still names the linked model (a copied link asks the same), and the
    # box says why it is filled in after the one-time notice has gone.
    at.run()
    assert at.query_params["model"] == "openai-community/gpt2", at.query_params
    assert any("The link asks for" in c.value for c in at.sidebar.caption)
    at.selectbox(key="model").set_value("minilm-l6").run()  # another choice: the address follows it
    assert at.query_params["model"] == "minilm-l6"
    assert not any("The link asks for" in c.value for c in at.sidebar.caption)


def test_a_linked_models_notice_is_not_shown_once_that_model_has_loaded(env) -> None:
    """A Load click that stops a link's first run before its notices are shown (the page is still drawing) left
    "press Load ... Showing 'smollm2-135m' meanwhile" above the loaded model's view on the next run; once the
    linked model has loaded, that notice is dropped, and the link's other notices are still shown once."""
    folder = tiny_gpt2(env)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": "patterns", "model": str(folder), "text": TEXT, "orient": "sideways"})
    at.run()
    notices = [w.value for w in at.warning]
    assert any("press **Load**" in n for n in notices) and any("sideways" in n for n in notices), notices
    at.session_state["_notices"] = notices  # as a first run stopped before show_notices leaves them
    at.button(key="model_load").click().run()
    assert not at.exception and at.session_state["model"] == str(folder)
    shown = [w.value for w in at.warning]
    assert not any("press **Load**" in n for n in shown) and any("sideways" in n for n in shown), shown


def test_an_encoder_decoder_from_the_selector_drives_the_cross_attention_page(env) -> None:
    from tests.tiny_models import save_tiny_marian

    folder = env / "models" / "tiny-marian"
    folder.mkdir(parents=True)
    save_tiny_marian(folder)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"text": "The cat sleeps on the mat."})
    at.run()
    request(at, str(folder))
    assert not at.exception, [e.value for e in at.exception]
    caption = next(c.value for c in at.sidebar.caption if "parameters" in c.value)
    assert "Marian encoder-decoder (2 encoder + 3 decoder layers)" in caption
    at.switch_page("app_pages/cross_attention.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("real cross-attention" in c.value for c in at.caption)
    charts = [c for c in at.get("plotly_chart") if "mech_cross_encdec_block" in str(c.proto.id)]
    assert charts, "the encoder-decoder block was not drawn"
    # The drawn weights are the engine's cross-attention pattern of the chosen head, rows summing to 1.
    z = decode(figure_spec(charts[0])["data"][0]["z"]).astype(float)
    pair = load_model(str(folder), device="cpu").trace_pair(DEFAULT_SOURCE, DEFAULT_TARGET, max_tokens=128)
    layer, head = at.selectbox(key="mech_cross_encdec_head").value
    expected = pair.cross.pattern(layer, head).numpy()
    assert z.shape == expected.shape == (pair.decoder.n_tokens, pair.encoder.n_tokens)
    assert np.allclose(z, expected, atol=1e-6)
    assert np.allclose(z.sum(axis=1), 1.0, atol=1e-5)  # rows sum to 1 over the source alone
    assert cut_off_select_options(at) + cut_off_metric_values(at) + cut_off_code_lines(at) == []  # whole at 1024 px


def test_the_sidebar_names_a_built_in_model_plainly_and_a_typed_one_literally(env) -> None:
    """Help texts are Markdown: a built-in's name reads as a name; a typed folder's (it may hold `*` or `[x](y)`)
    goes in as a literal."""
    folder = tiny_gpt2(env)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": "patterns", "text": TEXT})
    at.run()
    assert "SmolLM2-135M-Instruct's own masking is on" in at.toggle(key="causal").help
    request(at, str(folder))
    assert "`tiny-gpt2`'s own masking is on" in at.toggle(key="causal").help


def test_a_folder_named_in_markdown_is_shown_as_its_name(env) -> None:
    """A typed folder may be called anything: its name reaches every page's caption as a code span, never as
    Markdown (here it would have drawn an image from another site)."""
    folder = tiny_gpt2(env, "![p](https:⁄⁄evil.example⁄p.png) *x*")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"page": "patterns", "text": TEXT})
    at.run()
    request(at, str(folder))
    assert not at.exception, [e.value for e in at.exception]
    captions = [c.value for c in at.caption]
    assert any(c.startswith("`![p](https:⁄⁄evil.example⁄p.png) *x*` (GPT-2 decoder") for c in captions), captions
    at.switch_page("app_pages/parameters.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("`![p](https:⁄⁄evil.example⁄p.png) *x*`: every parameter" in h.value for h in at.header)


def test_every_architecture_the_engine_loads_is_listed_under_the_box() -> None:
    """The help under *Another model* listed "GPT-2, BERT/RoBERTa, Llama/SmolLM/Qwen2/Mistral and Marian" long after
    T5, Gemma, Phi-3 and the rest loaded: the list comes from the adapters' own tables. It grew to ~240 names in the
    box's tooltip, taller than a 1,000-pixel window, which cut off its last sentence (the folders a local model may
    come from): the names are in *Supported architectures* beside the box, the tooltip says what the box takes."""
    from attention_core.loading.gguf import SUPPORTED as GGUF_ARCHITECTURES
    from attention_core.loading.hf_adapters import supported_model_types

    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    help_text = at.text_input(key="model_request").help
    assert len(help_text) < 800 and "$ATTN_ALLOWED_MODEL_DIRS" in help_text and "Supported architectures" in help_text
    listed = " ".join(m.value for m in at.sidebar.markdown)
    assert len(supported_model_types()) >= 20 and len(GGUF_ARCHITECTURES) >= 11
    for name in (*supported_model_types(), *GGUF_ARCHITECTURES):
        assert f"`{name}`" in listed, name
