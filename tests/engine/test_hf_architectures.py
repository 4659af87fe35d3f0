"""Parity per architecture against `transformers` on small randomly initialised models saved locally.

Tolerances (max absolute difference, float32 CPU): patterns 1e-4; logits and hidden states 1e-3.
Weights are drawn with std 0.3 (not the usual 0.02) so that patterns are peaked, not near-uniform:
a wrong RoPE or head mapping then shows up as a large difference.
"""

from __future__ import annotations

import pytest
import torch

from attention_core import ModelLoadError, PassContext, blocks, load_model
from tests.tiny_models import byte_bpe as _byte_bpe
from tests.tiny_models import save_tiny_gpt2, save_tiny_marian
from tests.tiny_models import wordpiece as _wordpiece

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.parity

PATTERN_TOL, LOGIT_TOL, HIDDEN_TOL = 1e-4, 1e-3, 1e-3
TEXT = "the blue creature took a mole of the forest"


def _make(kind: str):
    V = 300
    common = dict(vocab_size=V)
    llama_like = dict(
        hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=128, rope_theta=5000.0, tie_word_embeddings=False, **common,
    )
    if kind == "gpt2":
        cfg = transformers.GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=128, **common)
        return transformers.GPT2LMHeadModel(cfg), _byte_bpe(V)
    if kind in ("llama", "llama_biased"):  # llama_biased: q, k, v, o and the MLP's three maps with biases
        biases = dict(attention_bias=True, mlp_bias=True) if kind == "llama_biased" else {}
        return transformers.LlamaForCausalLM(transformers.LlamaConfig(**llama_like, **biases)), _byte_bpe(V)
    if kind == "qwen2":
        return transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**llama_like)), _byte_bpe(V)
    if kind in ("iquestcoder", "internlm3"):  # Llamas under their own model_type (head_dim given, as their configs)
        config_class = transformers.IQuestCoderConfig if kind == "iquestcoder" else transformers.InternLM3Config
        cfg = config_class(head_dim=16, **llama_like)
        return transformers.AutoModelForCausalLM.from_config(cfg), _byte_bpe(V)
    if kind == "mistral":
        cfg = transformers.MistralConfig(sliding_window=8, **llama_like)  # shorter than TEXT: the window bites
        return transformers.MistralForCausalLM(cfg), _byte_bpe(V)
    bert_like = dict(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96, max_position_embeddings=130,
        **common,
    )
    if kind == "bert":
        return transformers.BertModel(transformers.BertConfig(**bert_like)), _wordpiece(V)
    if kind == "roberta":
        cfg = transformers.RobertaConfig(pad_token_id=1, **bert_like)
        return transformers.RobertaModel(cfg, add_pooling_layer=False), _wordpiece(V)
    if kind == "xlm-roberta":  # RoBERTa's layout under its own model_type (the multilingual embedding models)
        cfg = transformers.XLMRobertaConfig(pad_token_id=1, **bert_like)
        return transformers.XLMRobertaModel(cfg, add_pooling_layer=False), _wordpiece(V)
    if kind == "eurobert":  # a Llama reading both ways (its masked-language-model head is not read)
        cfg = transformers.EuroBertConfig(pad_token_id=0, bos_token_id=0, eos_token_id=0, **llama_like)
        return transformers.EuroBertModel(cfg), _byte_bpe(V)
    if kind in ("ultrabert", "nomic_bert", "gte", "jina_v3"):  # EuroBERT's layers with local ones; post-norm BERTs
        from tests.tiny_models import _tiny_hf  # with RoPE (tests/tiny_models_later.py)

        return _tiny_hf(kind), _byte_bpe(V) if kind == "ultrabert" else _wordpiece(V)
    if kind == "roberta-prelayernorm":  # RoBERTa with a LayerNorm before each sublayer and one closing the stack
        cfg = transformers.RobertaPreLayerNormConfig(pad_token_id=1, **bert_like)
        return transformers.RobertaPreLayerNormModel(cfg, add_pooling_layer=False), _wordpiece(V)
    if kind == "xlm-roberta-xl":  # the same, its embeddings not normalised (XLM-RoBERTa-XL and -XXL)
        cfg = transformers.XLMRobertaXLConfig(pad_token_id=1, **bert_like)
        return transformers.XLMRobertaXLModel(cfg, add_pooling_layer=False), _wordpiece(V)
    if kind == "rembert":  # BERT's post-norm layers; embeddings 32 wide, normalised there, then projected up to 64
        cfg = transformers.RemBertConfig(input_embedding_size=32, output_embedding_size=48, **bert_like)
        return transformers.RemBertModel(cfg, add_pooling_layer=False), _wordpiece(V)
    if kind == "megatron-bert":  # BERT with a LayerNorm before each sublayer, one closing the stack, none on the
        # embeddings (NVIDIA's Megatron-BERT, IDEA's Erlangshen-MegatronBert)
        cfg = transformers.MegatronBertConfig(**bert_like)
        return transformers.MegatronBertModel(cfg, add_pooling_layer=False), _wordpiece(V)
    if kind == "roformer":  # BERT's layers with RoPE in neighbouring pairs; 32-wide embeddings projected up to 64
        cfg = transformers.RoFormerConfig(embedding_size=32, **bert_like)
        return transformers.RoFormerModel(cfg), _wordpiece(V)
    if kind == "albert":  # BERT's post-norm layers, 3 of them reading 2 groups' weights; 32-wide embeddings
        cfg = transformers.AlbertConfig(embedding_size=32, num_hidden_groups=2, hidden_act="gelu_new",
                                        **{**bert_like, "num_hidden_layers": 3})  # fmt: skip
        return transformers.AlbertModel(cfg), _wordpiece(V)
    if kind == "big_bird":  # BERT's layers, embeddings × √64; full attention up to (5 + 2·1)·4 = 28 tokens
        cfg = transformers.BigBirdConfig(block_size=4, num_random_blocks=1, rescale_embeddings=True, **bert_like)
        hf = transformers.BigBirdModel(cfg, add_pooling_layer=False)
        # What its forward switches to on a text this short; set beforehand, as transformers 5 returns no patterns
        # from a switch made inside the forward. config.json still says block_sparse.
        hf.set_attention_type("original_full")
        return hf, _wordpiece(V)
    if kind == "ernie":  # BERT with a task-type embedding added to every token (ERNIE 3.0's use_task_id)
        cfg = transformers.ErnieConfig(use_task_id=True, task_type_vocab_size=3, **bert_like)
        return transformers.ErnieModel(cfg, add_pooling_layer=False), _wordpiece(V)
    if kind == "data2vec-text":  # RoBERTa's layout under data2vec_text. (with its masked-LM head: logits compared)
        cfg = transformers.Data2VecTextConfig(pad_token_id=1, **bert_like)
        return transformers.Data2VecTextForMaskedLM(cfg), _wordpiece(V)
    if kind == "camembert":  # RoBERTa's layout again, under its own model_type (CamemBERT, French)
        cfg = transformers.CamembertConfig(pad_token_id=1, **bert_like)
        return transformers.CamembertModel(cfg, add_pooling_layer=False), _wordpiece(V)
    if kind == "electra":  # BERT's layout under electra. (a discriminator, saved with its head)
        cfg = transformers.ElectraConfig(embedding_size=64, **bert_like)
        return transformers.ElectraForPreTraining(cfg), _wordpiece(V)
    if kind == "electra_small":  # ELECTRA-small's layout: embeddings 32 wide, normalised, then projected up to 64
        cfg = transformers.ElectraConfig(embedding_size=32, **bert_like)
        return transformers.ElectraForPreTraining(cfg), _wordpiece(V)
    if kind == "mpnet":  # BERT's layout plus T5's bidirectional relative position bias on the scaled scores
        cfg = transformers.MPNetConfig(pad_token_id=1, **bert_like)
        return transformers.MPNetModel(cfg, add_pooling_layer=False), _wordpiece(V)
    if kind == "modernbert":  # pre-norm, RoPE; layer 0 global (no norm of its own), 1 and 2 see keys ≤ 4 away
        cfg = transformers.ModernBertConfig(
            vocab_size=V, hidden_size=64, num_hidden_layers=3, num_attention_heads=4, intermediate_size=96,
            max_position_embeddings=128, local_attention=8, global_attn_every_n_layers=3, pad_token_id=0,
            bos_token_id=2, eos_token_id=3, cls_token_id=2, sep_token_id=3,
        )  # fmt: skip
        return transformers.ModernBertModel(cfg), _wordpiece(V)
    if kind == "distilbert":  # BERT without segments, under its own names
        cfg = transformers.DistilBertConfig(
            vocab_size=V, dim=64, n_layers=2, n_heads=4, hidden_dim=96, max_position_embeddings=130
        )
        return transformers.DistilBertModel(cfg), _wordpiece(V)
    raise ValueError(kind)


KINDS = ["gpt2", "llama", "llama_biased", "qwen2", "mistral", "iquestcoder", "internlm3", "bert", "roberta",
         "xlm-roberta", "distilbert", "mpnet", "modernbert", "electra", "electra_small", "camembert", "eurobert",
         "ultrabert", "nomic_bert", "gte", "jina_v3", "roberta-prelayernorm", "xlm-roberta-xl", "data2vec-text",
         "ernie", "roformer", "albert", "big_bird", "megatron-bert", "rembert"]


@pytest.fixture(scope="module", params=KINDS)
def pair(request, tmp_path_factory, monkeypatch_module):
    torch.manual_seed(0)
    hf, tok = _make(request.param)
    hf.set_attn_implementation("eager")  # the only implementation that returns attention patterns
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if "embed_positions" in name:  # RoFormer's sinusoids: a fixed table stored as a parameter, not weights
                continue
            if p.dim() == 2 or name.endswith("bias"):
                p.normal_(0.0, 0.3)
            elif "norm" in name.lower():  # off their init: a norm applied where the model has none shows
                p.add_(torch.randn_like(p) * 0.3)
    folder = tmp_path_factory.mktemp(request.param)
    hf.save_pretrained(folder, safe_serialization=True)
    tok.save(str(folder / "tokenizer.json"))
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return request.param, hf.eval(), load_model(str(folder), device="cpu")


def test_patterns_logits_and_hidden_states_match(pair):
    kind, hf, ours = pair
    trace = ours.trace(TEXT)
    ids = torch.tensor([trace.token_ids])
    assert ids.shape[1] > 5
    with torch.inference_mode():
        out = hf(ids, output_attentions=True, output_hidden_states=True)
    assert len(out.attentions) == ours.config.n_layers
    for layer in range(ours.config.n_layers):
        ref = out.attentions[layer][0]
        diff = (trace.layer_patterns(layer) - ref).abs().max().item()
        assert diff <= PATTERN_TOL, f"{kind} layer {layer} pattern differs by {diff}"
        # The last query sees every key: uniform would give it 1/n per key. A peaked row means that a wrong
        # RoPE, mask or head mapping would move real weight, so this comparison can catch one.
        assert ref[:, -1].max() > 3.0 / ids.shape[1], "random weights too small to make a peaked pattern"
        for head in range(ours.config.n_heads):  # one head's own path, which maps it to its key/value head itself
            diff = (trace.pattern(layer, head) - ref[head]).abs().max().item()
            assert diff <= PATTERN_TOL, f"{kind} layer {layer} head {head} pattern differs by {diff}"
    n_layers = ours.config.n_layers
    for layer in range(n_layers):
        diff = (trace.resid(layer) - out.hidden_states[layer][0]).abs().max().item()
        assert diff <= HIDDEN_TOL, f"{kind} hidden state {layer} differs by {diff}"
    final = trace.resid(n_layers)
    if ours.config.norm_position == "pre":  # HF's last hidden state is after the final norm
        final = blocks.normalize(final, ours.weights, "ln_final", ours.config)
    assert (final - out.hidden_states[n_layers][0]).abs().max().item() <= HIDDEN_TOL
    if ours.config.has_lm_head:
        assert (trace.logits - out.logits[0]).abs().max().item() <= LOGIT_TOL
    else:
        assert trace.logits is None


def test_a_neutral_intervention_and_the_what_if_mask_keep_the_numbers_right(pair):
    # Temperature 1 changes nothing, so every number must equal the clean pass's: an intervention that read another
    # head's keys (a wrong key/value head for a grouped query head) would move them. The what-if mask is the causal
    # one whatever the pass used.
    from attention_core import temperature

    kind, _, ours = pair
    clean = ours.trace(TEXT)
    for head in range(ours.config.n_heads):
        same = ours.trace(TEXT, interventions=[temperature(0, head, 1.0)])
        assert (same.resid(ours.config.n_layers) - clean.resid(ours.config.n_layers)).abs().max() <= HIDDEN_TOL, kind
        assert (same.pattern(0, head) - clean.pattern(0, head)).abs().max() <= PATTERN_TOL, kind
    n = clean.n_tokens
    for masked in (True, False):
        what_if = clean.pattern(1, 2, masked=masked)
        above = torch.ones(n, n, dtype=torch.bool).triu(1)  # later keys (within a sliding window: it always applies)
        above &= torch.ones(n, n, dtype=torch.bool) if clean.window_mask(1) is None else clean.window_mask(1)
        assert what_if[above].abs().max() == 0.0 if masked else what_if[above].min() > 0.0, (kind, masked)
        assert torch.allclose(what_if.sum(-1), torch.ones(n), atol=1e-5)


def test_parameter_counts_match(pair):
    kind, hf, ours = pair
    expected = sum(p.numel() for p in hf.parameters())
    # (ELECTRA's discriminator_predictions are read and counted: its replaced-token head, test_token_classifier.py)
    head = {"bert": "pooler.", "jina_v3": "pooler.", "albert": "pooler.",
            "roformer": "encoder.embed_positions."}.get(kind)  # RoFormer: its sinusoids
    if head:
        expected -= sum(p.numel() for n, p in hf.named_parameters() if n.startswith(head))
    assert ours.parameter_counts()["total"] == expected


def test_architecture_specifics(pair):
    kind, _, ours = pair
    cfg = ours.config
    llamas = ("llama", "llama_biased", "qwen2", "mistral", "iquestcoder", "internlm3")
    assert cfg.n_kv_heads == (2 if kind in (*llamas, "eurobert", "ultrabert") else 4)
    assert cfg.causal == (kind in ("gpt2", *llamas))
    encoders = ("bert", "roberta", "xlm-roberta", "distilbert", "mpnet", "electra", "electra_small", "camembert",
                "roberta-prelayernorm", "xlm-roberta-xl", "data2vec-text", "ernie", "albert", "big_bird",
                "megatron-bert", "rembert")
    biased = (*encoders, "gte", "jina_v3", "roformer")  # RoPE, no position table, but biases on q, k and v
    assert ("blocks.0.attn.b_Q" in ours.weights) == (kind in ("gpt2", "qwen2", "llama_biased", *biased))
    if kind == "llama_biased":  # attention_bias: W_O's too; mlp_bias: the gate's, up's and down's
        assert all(f"blocks.1.{name}" in ours.weights for name in ("attn.b_O", "mlp.b_gate", "mlp.b_in", "mlp.b_out"))
    # The embedding-shifts page says whether a word's layer-0 embedding depends on its position from this.
    assert cfg.absolute_positions == ("embed.W_pos" in ours.weights) == (kind in ("gpt2", *encoders))
    segments = ("bert", "roberta", "xlm-roberta", "electra", "electra_small", "camembert", "nomic_bert", "gte",
                "jina_v3", "roberta-prelayernorm", "xlm-roberta-xl", "data2vec-text",
                "ernie", "roformer", "albert", "big_bird", "megatron-bert", "rembert")  # not DistilBERT's, MPNet's
    # ELECTRA-small: 32-wide embeddings, normalised at that width, then projected up to the layers' 64
    assert ("embed.W_proj" in ours.weights) == (kind in ("electra_small", "roformer", "albert", "rembert"))
    if kind == "rembert":  # normalised at the embeddings' 32, then projected up to the layers' 64
        assert ours.weights["embed.ln.w"].shape == (32,) and ours.weights["embed.W_proj"].shape == (32, 64)
    if kind == "albert":  # layers 0 and 1 read group 0's weights, layer 2 group 1's (int(i / 1.5)): stored once
        assert cfg.layer_weights == (0, 0, 1) and cfg.stored_layers == 2
        assert ours.weights["blocks.1.attn.W_Q"] is ours.weights["blocks.0.attn.W_Q"]
        assert not torch.equal(ours.weights["blocks.2.attn.W_Q"], ours.weights["blocks.0.attn.W_Q"])
        # W and b of Q, K, V, O, in and out, w and b of 2 norms: 16 tensors in each of the 2 blocks
        assert sum(name.startswith("blocks.") for name in ours.weights) == 2 * 16
        assert ours.trace(TEXT).head_steps(2, 0).embedding_projection == "after"
        rows = ours.parameter_counts_per_layer()  # a shared block counted in each layer that reads it
        assert rows[0] == rows[1] == rows[2] and rows[0]["W_Q"] == 64 * 64
        again = load_model(str(ours.source), device="cpu")  # from the converted-weight cache, stored once there too
        assert torch.equal(again.trace(TEXT).resid(3), ours.trace(TEXT).resid(3))
        assert len(again.weights) == len(ours.weights)
    if kind == "big_bird":  # sparse past 28 tokens: capped there, and said
        assert (cfg.n_ctx, ours.max_tokens, cfg.embed_scale) == (28, 28, 8.0) and "capped at 28 tokens" in ours.notes[0]
    if kind == "electra_small":
        assert ours.weights["embed.W_proj"].shape == (32, 64) and ours.weights["embed.ln.w"].shape == (32,)
        assert ours.trace(TEXT).head_steps(0, 0).embedding_projection == "after"  # Inside one head says so
    assert ("embed.W_type" in ours.weights) == (kind in segments)
    if kind == "mistral":
        assert cfg.window(0) == 8 and ours.max_tokens == 128  # the mask holds the window: no cap at it
        trace = ours.trace(TEXT)
        assert trace.n_tokens > 8 and not trace.mask(1)[-1, : trace.n_tokens - 8].any()
    if kind in ("roberta", "xlm-roberta", "mpnet", "camembert", "roberta-prelayernorm", "xlm-roberta-xl",
                "data2vec-text"):
        assert cfg.pos_offset == 2
    assert ("embed.W_task" in ours.weights) == (kind == "ernie")  # ERNIE's task types: task 0 added to every token
    if kind == "ernie":
        assert ours.trace(TEXT).head_steps(0, 0).embedding_terms == ("token", "position", "segment", "task type")
    if kind in ("roberta-prelayernorm", "xlm-roberta-xl", "megatron-bert"):  # norms before each sublayer, one
        assert cfg.norm_position == "pre" and "ln_final.b" in ours.weights  # closing the stack
        assert ("embed.ln.w" in ours.weights) == (kind == "roberta-prelayernorm")
        assert cfg.pos_offset == (0 if kind == "megatron-bert" else 2)  # BERT's positions from 0, RoBERTa's from 2
    if kind == "ultrabert":  # layers 0 and 1 local: |query − key| ≤ 3, both ways, at their own RoPE base
        assert [cfg.window(i) for i in range(3)] == [4, 4, None]
        assert (cfg.rope_theta, cfg.rope_theta_local) == (5000, 50)
        assert cfg.rope_base(0) == 50 and cfg.rope_base(2) == 5000 and not cfg.has_lm_head
    if kind == "nomic_bert":  # BERT's post-norm LayerNorms and segments, RoPE at base 1000 instead of positions
        assert (cfg.norm, cfg.norm_position, cfg.rope_theta, cfg.gated_mlp) == ("layer", "post", 1000.0, True)
        assert "embed.ln.b" in ours.weights and "blocks.0.attn.b_Q" not in ours.weights
    if kind == "modernbert":  # layer 0 global, 1 and 2 local: |query − key| ≤ 4, both ways
        assert [cfg.window(i) for i in range(3)] == [None, 5, 5] and cfg.skip_first_attn_norm
        assert (cfg.rope_base(0), cfg.rope_base(1)) == (160000.0, 10000.0)
        trace = ours.trace(TEXT)
        n = trace.n_tokens
        distance = (torch.arange(n)[:, None] - torch.arange(n)[None, :]).abs()
        assert n > 9 and torch.equal(trace.mask(1), distance <= 4) and trace.mask(0).all()
    if kind == "mpnet":  # its bias beside q·k/√d_head, the same table in every layer
        assert (cfg.position_bias, cfg.rel_buckets, cfg.attn_scale) == ("t5", 32, None)
        trace = ours.trace(TEXT)
        assert torch.equal(trace.position_bias(0, 1), trace.position_bias(1, 1)) and trace.position_bias(0, 1).any()


def test_unsupported_architectures_are_refused(tmp_path):
    import json

    folder = tmp_path / "xlnet"  # (T5, BART and DeBERTa, the examples here before, are supported now)
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "xlnet"}))
    with pytest.raises(ModelLoadError, match="not supported"):
        load_model(str(folder))


@pytest.mark.parametrize(("kind", "fields", "named"), [("internlm3", {"qkv_bias": True}, "qkv_bias"),
                                                     ("qwen2", {"mlp_bias": True}, "mlp_bias")])
def test_biases_a_llama_family_adapter_does_not_read_are_refused_by_name(kind, fields, named):
    """InternLM3's own bias fields, and biases a Qwen2 does not have where it has them (on W_O, in the MLP)."""
    from attention_core.loading.hf_adapters import llama_config

    hf = dict(model_type=kind, hidden_size=64, num_attention_heads=4, num_hidden_layers=2, intermediate_size=96,
              vocab_size=300, **fields)  # fmt: skip
    with pytest.raises(ModelLoadError, match=f"{kind} checkpoints with {named} are not supported yet"):
        llama_config(hf, "x")


def test_hub_id_offline_is_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelLoadError, match="not in the local Hugging Face cache"):
        load_model("nobody-here/tiny-model-that-is-not-cached")


def test_hub_id_loads_from_the_cache_without_network(tmp_path, monkeypatch):
    """A model already in the hub cache loads offline: lay out the cache by hand around a saved tiny GPT-2."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "converted"))
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    repo = cache / "models--someone--tiny-gpt2"
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    hf = save_tiny_gpt2(snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    loaded = load_model("someone/tiny-gpt2", device="cpu")
    assert loaded.name == "someone--tiny-gpt2"
    trace = loaded.trace(TEXT)
    with torch.inference_mode():
        ref = hf(torch.tensor([trace.token_ids])).logits[0]
    assert (trace.logits - ref).abs().max().item() <= LOGIT_TOL


def _cached_hub_repo(tmp_path, monkeypatch, name: str):
    """A tiny GPT-2 laid out in an offline hub cache as `someone/<name>`: (transformers' model, its snapshot)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "converted"))
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    repo, commit = cache / f"models--someone--{name}", "1" * 40
    hf = save_tiny_gpt2(repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return hf, repo / "snapshots" / commit


def test_a_hub_model_with_only_a_slow_tokenizer_loads(tmp_path, monkeypatch):
    """Many older repositories ship vocab.json + merges.txt (GPT-2's, RoBERTa's, DeBERTa's) or vocab.txt (BERT's)
    and no tokenizer.json: those are read (attention_core/loading/slow_tokenizer.py), with the same ids."""
    import json

    hf, snapshot = _cached_hub_repo(tmp_path, monkeypatch, "slow-tokenizer")
    fast = json.loads((snapshot / "tokenizer.json").read_text())["model"]
    (snapshot / "vocab.json").write_text(json.dumps(fast["vocab"]))
    (snapshot / "merges.txt").write_text("\n".join(" ".join(m) if isinstance(m, list) else m for m in fast["merges"]))
    (snapshot / "tokenizer.json").unlink()
    loaded = load_model("someone/slow-tokenizer", device="cpu")
    trace = loaded.trace(TEXT)
    assert trace.token_ids == _byte_bpe(300).encode(TEXT).ids
    with torch.inference_mode():
        ref = hf(torch.tensor([trace.token_ids])).logits[0]
    assert (trace.logits - ref).abs().max().item() <= LOGIT_TOL


def test_a_hub_model_without_a_tokenizer_read_here_says_how_to_get_one(tmp_path, monkeypatch):
    """A repository with no tokenizer file read here (XLM-R's or Marian's SentencePiece models are not fetched): the
    message named a tokenizer.json path deep in the hub cache and nothing else."""
    _, snapshot = _cached_hub_repo(tmp_path, monkeypatch, "spm-tokenizer")
    (snapshot / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match="someone/spm-tokenizer has no tokenizer.json") as said:
        load_model("someone/spm-tokenizer", device="cpu")
    assert "save_pretrained" in str(said.value) and "spiece.model" in str(said.value)


def test_a_slow_tokenizers_files_are_fetched_only_where_there_is_no_tokenizer_json(tmp_path, monkeypatch):
    """Most repositories ship vocab.json, vocab.txt or tokenizer.model beside tokenizer.json: those are not
    downloaded; a repository without tokenizer.json gets a second, small fetch of them alone."""
    import huggingface_hub

    from attention_core.loading import hub
    from attention_core.loading.slow_tokenizer import SLOW_FILES

    asked: list[list[str]] = []

    def snapshot_download(repo_id, allow_patterns, local_files_only=False, cache_dir=None):
        asked.append(list(allow_patterns))
        folder = tmp_path / repo_id.replace("/", "--")
        folder.mkdir(exist_ok=True)
        if repo_id.endswith("fast") and "tokenizer.json" in allow_patterns:
            (folder / "tokenizer.json").write_text("{}")
        if repo_id.endswith("slow") and "vocab.txt" in allow_patterns:
            (folder / "vocab.txt").write_text("[UNK]\n")
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    assert hub.fetch("someone/fast").name == "someone--fast"
    assert len(asked) == 1 and not set(SLOW_FILES) & set(asked[0]) and "tokenizer_config.json" in asked[0]
    asked.clear()
    assert (hub.fetch("someone/slow") / "vocab.txt").is_file()
    assert len(asked) == 2 and asked[1] == list(SLOW_FILES)


@pytest.fixture(scope="module")
def marian(tmp_path_factory, monkeypatch_module):
    from attention_core.loading.hf_adapters_seq2seq import sinusoidal_positions

    folder = tmp_path_factory.mktemp("marian")
    hf = save_tiny_marian(folder)
    assert torch.allclose(sinusoidal_positions(128, 64), hf.model.encoder.embed_positions.weight, atol=1e-6)
    monkeypatch_module.setenv("ATTN_CACHE_DIR", str(tmp_path_factory.mktemp("cache-marian")))
    return hf, load_model(str(folder), device="cpu")


def test_encoder_decoder_matches_transformers_including_cross_attention(marian):
    hf, ours = marian
    pair = ours.trace_pair("the blue creature took a mole", "a fluffy mole of the forest")
    src = torch.tensor([pair.encoder.token_ids])
    tgt = torch.tensor([pair.decoder.token_ids])
    assert pair.decoder.token_ids[0] == 0  # the decoder starts from decoder_start_token_id
    with torch.inference_mode():
        out = hf(input_ids=src, decoder_input_ids=tgt, output_attentions=True, output_hidden_states=True)
    for layer in range(ours.config.n_layers):
        assert (pair.encoder.layer_patterns(layer) - out.encoder_attentions[layer][0]).abs().max() <= PATTERN_TOL
        assert (pair.encoder.resid(layer + 1) - out.encoder_hidden_states[layer + 1][0]).abs().max() <= HIDDEN_TOL
    for layer in range(ours.config.n_decoder_layers):
        assert (pair.decoder.layer_patterns(layer) - out.decoder_attentions[layer][0]).abs().max() <= PATTERN_TOL
        cross = pair.cross.layer_patterns(layer)
        assert cross.shape == (4, tgt.shape[1], src.shape[1])
        assert (cross - out.cross_attentions[layer][0]).abs().max() <= PATTERN_TOL
        assert cross[:, -1].max() > 3.0 / src.shape[1]  # peaked: the comparison can catch a wrong mapping
        assert (pair.decoder.resid(layer) - out.decoder_hidden_states[layer][0]).abs().max() <= HIDDEN_TOL
        assert torch.allclose(pair.cross.pattern(layer, 2), cross[2])
    assert (pair.logits - out.logits[0]).abs().max() <= LOGIT_TOL
    assert pair.encoder.logits is None


def test_marian_steps_say_its_embeddings_are_scaled_and_not_normalised(marian):
    """Marian's layer-0 residual is √d_model·token + sinusoidal position, with no LayerNorm (unlike BERT):
    HeadSteps says so, and the residual the pass captured is exactly that sum."""
    _, ours = marian
    trace = ours.trace_pair("the blue creature", "a mole").encoder
    s = trace.head_steps(0, 0)
    assert (s.embedding_terms, s.embedding_norm) == (("token", "position"), False)
    assert s.embed_scale == pytest.approx(ours.config.d_model**0.5)


def test_encoder_decoder_masks(marian):
    _, ours = marian
    pair = ours.trace_pair("one mole of carbon dioxide", "une mole de dioxyde")
    n_t = pair.decoder.n_tokens
    above = torch.ones(n_t, n_t, dtype=torch.bool).triu(1)
    assert (pair.decoder.pattern(1, 0)[above] == 0).all()  # masked self-attention in the decoder
    # Cross-attention: no mask, so even the first target query (the start token) weighs many source keys.
    assert (pair.cross.pattern(1, 0)[0] > 0).sum() > 1
    n_s = pair.encoder.n_tokens
    assert pair.encoder.mask(0).all()  # the encoder is bidirectional: keys after a query carry weight
    assert pair.encoder.layer_patterns(0)[:, torch.ones(n_s, n_s, dtype=torch.bool).triu(1)].sum() > 1.0
    assert torch.allclose(pair.cross.pattern(2, 3).sum(-1), torch.ones(n_t), atol=1e-6)
    with pytest.raises(Exception, match="not an encoder-decoder"):
        load_model("minilm-l6").trace_pair("a", "b")


def test_encoder_decoder_parameter_count(marian):
    hf, ours = marian
    learned = sum(p.numel() for n, p in hf.named_parameters() if "embed_positions" not in n)
    fixed = ours.config.n_ctx * ours.config.d_model  # our one copy of the sinusoidal table (HF keeps one per stack)
    assert ours.parameter_counts()["total"] == learned + fixed + hf.final_logits_bias.numel()
    assert ours.parameter_counts()["cross_attention.W_Q"] == 3 * 64 * 64


def test_hub_download_is_refused_up_front_when_it_cannot_fit(tmp_path, monkeypatch):
    """The hub's file list is checked before any download: too large for memory or disk → a message."""
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    from attention_core.loading import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("ATTN_MEMORY_LIMIT_GB", "4")
    downloads = []

    def snapshot_download(repo_id, local_files_only=False, **kwargs):
        if local_files_only:
            raise LocalEntryNotFoundError("not cached")
        downloads.append(repo_id)
        raise LocalEntryNotFoundError("test: no network")

    class Sibling:
        def __init__(self, name, size):
            self.rfilename, self.size = name, size

    class FakeApi:
        def model_info(self, repo_id, files_metadata=False):
            gib = 2**30
            files = {"big/model": [("model.safetensors", 3 * gib), ("pytorch_model.bin", 9 * gib)]}
            return type("Info", (), {"siblings": [Sibling(n, s) for n, s in files.get(repo_id, [])]})()

    import shutil

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    # Memory is the limit first, whatever this machine's disk holds (a full /tmp failed this check once).
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: type("Usage", (), {"free": 2**40})())
    with pytest.raises(ModelLoadError, match="big/model is too large for this machine"):
        hub.fetch("big/model")  # 3 GiB of safetensors × 2.2 while converting > 4 GiB
    assert downloads == []
    with pytest.raises(ModelLoadError, match="not in the local Hugging Face cache"):
        hub.fetch("small/model")  # nothing listed: the download is tried (and fails offline here)
    assert downloads == ["small/model"]
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: type("Usage", (), {"free": 2**30})())
    monkeypatch.setenv("ATTN_MEMORY_LIMIT_GB", "100")  # memory is no longer the limit: 1 GiB of disk is
    with pytest.raises(ModelLoadError, match="of disk is free"):
        hub.fetch("big/model")


def test_encoder_decoder_decoder_context_and_sizes(marian):
    _, ours = marian
    pair = ours.trace_pair("one mole of carbon dioxide", "une mole de dioxyde")
    dec = pair.decoder.context
    assert isinstance(dec, PassContext) and dec is not ours.context
    assert dec.config.arch == "marian-decoder" and dec.config.n_layers == ours.config.n_decoder_layers
    assert ours.config.absolute_positions and "embed.W_pos" in ours.weights  # fixed sinusoids, added like learned
    assert dec.key == f"{ours.key}#decoder" and pair.decoder.model_name == ours.name
    assert pair.decoder.model_key != pair.encoder.model_key  # different traces of the same model
    assert dec.weights["blocks.0.attn.W_Q"] is ours.weights["dec.blocks.0.attn.W_Q"]  # the decoder's own
    assert pair.cross.view.cross_weights["blocks.0.attn.W_Q"] is ours.weights["dec.blocks.0.cross.W_Q"]
    c = pair.decoder.captured
    parts = (c.resid_pre, c.q, c.k, c.v, c.cross_q, c.cross_k, c.cross_v, c.resid_cross)
    assert pair.decoder.nbytes() >= sum(x.numel() * 4 for part in parts for x in part)
    assert pair.nbytes() == pair.encoder.nbytes() + pair.decoder.nbytes()
    before = pair.nbytes()
    logits = pair.logits  # computed once, then held by the decoder's trace
    assert pair.nbytes() == before + logits.numel() * 4
