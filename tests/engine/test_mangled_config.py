"""A config.json with a mangled value is refused when the model loads, with a message, never a traceback.

Found by editing one field of tiny models' config.json at a time (deleted, 0, -3, 10⁹, "x", null, 2.5, [1], true)
and loading: most edits were refused by name or loaded a model that runs, but these raised a TypeError, a
ZeroDivisionError, a KeyError or an AttributeError at load, filled the memory (10⁹ layers listed before a weight was
read), or loaded a model whose first trace failed inside the pass (0 layers, a soft-cap that is text, a negative query
scale's complex square root, positions numbered from a negative pad, one relative-position bucket or a T5 maximum
distance inside the exact buckets, a Mamba or Mamba-2 state, a head width or a delta rule's heads that its maps do
not have). Falcon-H1 with a 10⁹ Mamba state filled the memory spelling out its µP factors.
"""

from __future__ import annotations

import json
import shutil

import pytest

from attention_core import ModelLoadError, load_model
from tests.tiny_folders import tiny_folder

pytest.importorskip("transformers")

CASES = [  # (tiny model, config.json field, the mangled value, what the refusal says)
    ("qwen3", "model_type", ["qwen3"], "model_type"),
    ("qwen3", "architectures", -3, r"config\.json's architectures is -3, not a list of class names"),
    ("qwen3", "architectures", "Qwen3ForCausalLM", "not a list of class names"),
    ("opt", "num_attention_heads", 0, "config.json lacks or mangles a field the opt adapter needs"),
    ("opt", "num_hidden_layers", 0, "n_layers"),
    ("qwen3", "num_key_value_heads", 3, r"n_heads \(4\) is not a multiple of n_kv_heads \(3\)"),
    ("opt", "num_hidden_layers", -3, "n_layers"),
    ("gemma2", "attn_logit_softcapping", "x", "attn_softcap"),
    ("gemma2", "attn_logit_softcapping", [1], "attn_softcap"),
    ("gemma2", "query_pre_attn_scalar", -3, "attn_scale"),
    ("granite", "logits_scaling", 0, "division by zero"),
    ("lfm2", "block_multiple_of", 0, "division"),
    ("mpnet", "pad_token_id", -3, "pos_offset"),
    ("bart", "tie_word_embeddings", False, "lm_head.weight"),
    ("t5gemma", "tie_word_embeddings", None, "lm_head.out_proj.weight"),
    ("jamba", "mamba_d_state", 4, r"ssm\.W_x is 128 × 20, but its config \(a selective scan of 128 channels, state 4"),
    ("jamba", "mamba_dt_rank", 2, r"ssm\.W_x is 128 × 20, but its config \(a selective scan .* Δ rank 2\)"),
    ("jamba", "num_hidden_layers", 10**9, "1,000,000,000 layers"),
    ("nemotron_h", "ssm_state_size", 4, r"ssm\.W_in is 64 × 292, but its config \(a Mamba-2 scan .* state 4"),
    ("nemotron_h", "mamba_head_dim", 16, r"ssm\.W_in is 64 × 292, but its config \(a Mamba-2 scan of 4 heads of 16"),
    ("qwen3_5", "linear_key_head_dim", 4, r"delta\.W_qkv is 64 × 80, but .*\(a delta rule of 2 key heads of 4 dim"),
    ("olmo_hybrid", "linear_value_head_dim", 16, r"delta\.W_qkv is 64 × 80, but .* 4 value heads of 16\)"),
    ("olmo_hybrid", "rope_parameters", 3, "config.json lacks or mangles a field"),
    ("granite_hybrid", "time_step_limit", [1], "config.json lacks or mangles a field"),
    ("falcon_h1", "mamba_d_state", 10**9, r"ssm\.W_in is \d+ × \d+, but its config \(a Mamba-2 scan"),
    ("nemotron_h", "mamba_num_heads", 0, r"ssm\.W_in is 64 × 292, but its config \(a Mamba-2 scan of 0 heads"),
    ("kimi_linear", "linear_num_heads", 0, r"delta\.W_qkv is \d+ × 96, but its config \(a delta rule of 0 key heads"),
    ("umt5", "relative_attention_max_distance", 0, "rel_max_distance"),
    ("umt5", "relative_attention_max_distance", 2, "rel_max_distance"),
    ("cls_bert", "id2label", "x", "id2label"),
    ("deberta", "position_buckets", 1, "rel_buckets"),
    ("bart_nli", "decoder_start_token_id", 10**9, r"decoder_start_token_id is 1000000000; .* 0 to 299"),
    ("cohere", "use_qk_norm", True, r"a tensor 'blocks\.0\.attn\.q_norm\.w' that its weights lack"),
    ("falcon_rw", "new_decoder_architecture", True, r"a tensor 'blocks\.0\.ln_mlp\.w' that its weights lack"),
    ("kimi_k25", "text_config", 3, r"config\.json's text_config is 3, not a table"),
    ("apertus", "head_dim", -3, "a rotary width of -3"),
    ("apertus", "head_dim", 10**9, "a rotary width of 1000000000"),
    ("bamba", "rope_parameters.partial_rotary_factor", -3, "rotary_dim is -48"),
    ("bamba", "rope_parameters.partial_rotary_factor", 2.5, r"rotary_dim is 40; .* d_head \(16\)"),
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("private")
    return {kind: tiny_folder(root, kind) for kind in sorted({case[0] for case in CASES})}


@pytest.mark.parametrize(("kind", "field", "value", "said"), CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_a_mangled_config_value_is_refused_at_load(kind, field, value, said, folders, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / f"{kind}-{field}"
    shutil.copytree(folders[kind], folder)
    config = json.loads((folder / "config.json").read_text())
    *outer, name = field.split(".")  # a dotted field: a value inside one of config.json's tables
    table = config
    for key in outer:
        table = table[key]
    table[name] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=said):
        load_model(str(folder), device="cpu")


def test_every_case_still_loads_unedited(folders, tmp_path, monkeypatch):
    """The tiny models themselves load and trace: each refusal above is the edit's."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    for kind, folder in folders.items():
        model = load_model(str(folder), device="cpu")
        trace = model.trace("Hello there")
        assert trace.pattern(trace.attention_layers[0], 0).shape[-1] == len(trace.tokens), kind


def test_a_gguf_header_saying_a_billion_layers_is_refused_before_it_fills_the_memory(tmp_path, monkeypatch):
    """Gemma 2's reader lists each layer's window before a tensor is read: 10⁹ layers ran out of time and memory."""
    import gguf

    from tests.gguf_writer import rewrite_gguf, save_tiny_gguf

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    written = save_tiny_gguf(tmp_path / "tiny.gguf", arch="gemma2")
    path = rewrite_gguf(written, tmp_path / "deep.gguf", {"gemma2.block_count": (10**9, gguf.GGUFValueType.UINT32)})
    with pytest.raises(ModelLoadError, match=r"deep\.gguf .*gemma2\.block_count says 1,000,000,000 layers"):
        load_model(str(path), device="cpu")


def test_more_experts_than_the_router_scores_are_refused_at_load(tmp_path, monkeypatch):
    """A GGUF file of Mixtral saying 10⁹ experts (expert_count) over routers of 4 outputs loaded, since the stacked
    experts are read whole, and its first trace looped over the 10⁹ (a config.json is refused at its fifth expert)."""
    import gguf

    from tests.gguf_writer import rewrite_gguf, write_gguf
    from tests.tiny_models import _tiny_hf, byte_bpe

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    written = write_gguf(_tiny_hf("mixtral"), byte_bpe(300), tmp_path / "tiny.gguf", "llama")
    path = rewrite_gguf(written, tmp_path / "wide.gguf", {"llama.expert_count": (10**9, gguf.GGUFValueType.UINT32)})
    with pytest.raises(ModelLoadError, match=r"mlp\.router\.W is 64 × 4, but its config \(1,000,000,000 experts\)"):
        load_model(str(path), device="cpu")


def test_a_tokenizer_that_cannot_encode_the_text_says_so(folders, tmp_path, monkeypatch):
    """A WordPiece tokenizer.json whose vocabulary lost its [UNK] loads (the tokenizers library checks nothing until
    it encodes), and the text's first unknown word raised the library's bare Exception from the trace."""
    from attention_core.errors import InputError

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "mpnet-no-unk"
    shutil.copytree(folders["mpnet"], folder)
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    tokenizer["model"]["vocab"] = {}
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    model = load_model(str(folder), device="cpu")
    with pytest.raises(InputError, match=r"The model's tokenizer cannot encode this text: .*\[UNK\]"):
        model.trace("Hello there")


def test_a_model_its_first_pass_refuses_leaves_no_converted_cache(folders, tmp_path, monkeypatch):
    """The first pass runs after the weights were converted and cached, and not on a warm load: its refusal drops
    that cache, so loading the same folder again converts and refuses again rather than serving the entry unchecked;
    corrected, the folder loads."""
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "cohere"
    shutil.copytree(folders["cohere"], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "use_qk_norm": True}))
    with pytest.raises(ModelLoadError, match="q_norm"):
        load_model(str(folder), device="cpu")
    assert not list((tmp_path / "cache").rglob("*.safetensors"))
    with pytest.raises(ModelLoadError, match="q_norm"):
        load_model(str(folder), device="cpu")
    (folder / "config.json").write_text(json.dumps(config))
    assert load_model(str(folder), device="cpu").config.qk_norm == "none"


def test_the_first_pass_runs_when_a_model_is_converted_not_on_a_warm_load(folders, tmp_path, monkeypatch):
    """A converted entry on disk passed the first pass when it was written: a warm load (every app start) skips it."""
    from attention_core import first_pass

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    runs = []
    checked = first_pass.refuse_unrunnable
    monkeypatch.setattr(first_pass, "refuse_unrunnable", lambda model, forget: runs.append(checked(model, forget)))
    load_model(str(folders["opt"]), device="cpu")
    load_model(str(folders["opt"]), device="cpu")
    assert len(runs) == 1
