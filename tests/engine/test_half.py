"""Half-precision weights (attention_core/dtypes.py) on the CPU: SmolLM2 in bfloat16 against float32, the
refusals, and the memory check counting the chosen dtype. The CUDA parity test is test_half_cuda.py.

Tolerances (SmolLM2, the bfloat16 model against the float32 one on the same text, both on the CPU):
  attention patterns, every layer   max absolute difference BF16_MAX_TOL = 0.15, mean absolute difference over
                                    the cells a query may attend BF16_MEAN_TOL = 3e-3. bfloat16 keeps 8
                                    significant bits (up to 0.4% off on every weight and activation), compounded
                                    over 30 layers; a sharp head can move a lot of weight between two keys.
                                    Measured over the three texts below: max 0.114, mean 0.0016. transformers'
                                    own bfloat16 run of the same GGUF differs from its float32 run by max
                                    0.040-0.106 on the same texts (and from ours in bfloat16 by 0.030-0.056), so a
                                    2e-2 max is not something bfloat16 gives; float16 (11 bits, GPU only here)
                                    measured max 0.011. The scores and the softmax are float32 (upcast q and k):
                                    the difference is the pass's, not the view's.
  rows of every pattern             sum to 1 within ROW_SUM_TOL = 1e-3 (a float32 softmax; measured 3e-7)
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from attention_core import ModelLoadError, ablate_head, backend, load_model, memory, temperature
from tests.texts import FLUFFY, TEXTS

BF16_MAX_TOL = 0.15
BF16_MEAN_TOL = 3e-3
ROW_SUM_TOL = 1e-3
GiB = memory.GiB
pytestmark = pytest.mark.one_worker  # SmolLM2 in bfloat16 loaded once


@pytest.fixture(scope="module")
def bf16():
    return load_model("smollm2-135m", device="cpu", dtype="bfloat16")


@pytest.mark.parametrize("text", [FLUFFY, TEXTS[4], TEXTS[8]], ids=["fluffy", "eiffel", "digits"])
def test_bfloat16_patterns_stay_close_to_float32(text, smollm, bf16) -> None:
    half, full = bf16.trace(text), smollm.trace(text)
    assert half.dtype == torch.bfloat16 and full.dtype == torch.float32
    assert half.token_ids == full.token_ids
    allowed = full.mask(0)  # [n, n] the causal mask: the cells a query may attend
    worst, means = 0.0, []
    for layer in range(smollm.config.n_layers):
        p = half.layer_patterns(layer)  # [n_heads, n, n]
        assert p.dtype == torch.float32  # the softmax ran in float32, whatever the weights
        assert (p.sum(-1) - 1).abs().max().item() <= ROW_SUM_TOL
        diff = (p - full.layer_patterns(layer)).abs()  # [n_heads, n, n]
        worst = max(worst, diff.max().item())
        means.append(diff[:, allowed].mean().item())
    mean = sum(means) / len(means)
    assert worst <= BF16_MAX_TOL and mean <= BF16_MEAN_TOL, f"bfloat16 vs float32: max {worst}, mean {mean}"
    assert mean > 1e-5  # the pass really ran in bfloat16: a float32 pass would agree to ~1e-7


def test_a_bfloat16_model_holds_bfloat16_weights_and_says_so(smollm, bf16) -> None:
    assert all(w.dtype == torch.bfloat16 for w in bf16.weights.values())
    # The oneDNN packing is float32-only: a half-precision pass reads plain matrices.
    assert not any(backend.is_packed(w) for w in bf16.context.pass_weights.values())
    assert "dtype='bfloat16'" in repr(bf16) and "dtype='float32'" in repr(smollm)
    assert bf16.key != smollm.key and bf16.key.startswith(smollm.key)  # the result caches keep them apart
    assert bf16.parameter_counts() == smollm.parameter_counts()


@pytest.mark.parametrize("kind", ["gemma2", "qwen3", "neox"])
def test_every_public_tensor_of_a_bfloat16_trace_is_float32(kind, tmp_path, monkeypatch) -> None:
    # Tiny random models (tests/tiny_models.py), for the paths SmolLM2 does not take: soft-capped layers run the
    # written-out attention and sliding windows (gemma2), per-head q/k norms (qwen3), partial rotary and
    # parallel blocks (neox). bfloat16 matrix products are slow on this CPU, so the sweep runs on these.
    from tests.tiny_models import save_tiny

    monkeypatch.setenv("ATTN_CACHE_DIR", str(tmp_path / "cache"))
    save_tiny(kind, tmp_path / kind)
    model = load_model(str(tmp_path / kind), device="cpu", dtype="bfloat16")
    text = "the fluffy blue creature roamed the verdant forest of moles"
    trace = model.trace(text, interventions=[temperature(1, 1, 2.0)])
    assert trace.captured.q[0].dtype == torch.bfloat16  # captured as the pass computed them
    names = ["logits"] + [
        f"blocks.1.{n}"
        for n in ("resid_pre", "resid_mid", "resid_post", "attn.q", "attn.k", "attn.v", "attn.scores")
        + ("attn.uncapped_scores", "attn.masked_scores", "attn.pattern", "attn.z", "attn.head_out", "attn_out")
    ]
    for name in names:
        assert trace[name].dtype == torch.float32, name
        assert trace[name].numpy().dtype == "float32", name  # what the view models read
    assert (trace["blocks.1.attn.pattern"].sum(-1) - 1).abs().max().item() <= ROW_SUM_TOL
    assert trace.pattern(1, 1).dtype == trace.pooled_patterns(4).dtype == torch.float32
    assert trace.pattern_window(0, 2, slice(3, 9), slice(0, 6)).dtype == torch.float32
    assert trace.contributions(1, 5).dtype == trace.value_weighted(1, 0).dtype == torch.float32
    assert trace.lens_top(3).probs.dtype == trace.next_token_logits().dtype == torch.float32
    steps = trace.head_steps(1, 0)  # float64 numpy, from the bfloat16 captures
    assert abs(steps.pattern.sum(-1) - 1).max() <= ROW_SUM_TOL
    sweep = model.trace(text).ablation_sweep(trace.token_ids[-1], mode="mean")
    assert sweep.shape == (model.config.n_layers, model.config.n_heads) and torch.isfinite(sweep).all()
    gen = model.generate(text, max_new_tokens=3, interventions=[ablate_head(1, 0)])
    assert gen.trace.dtype == torch.bfloat16 and gen.top_probs.dtype == torch.float32


def test_generation_runs_in_bfloat16(smollm, bf16) -> None:
    text = "The Eiffel Tower is located in the city of"
    gen = bf16.generate(text, max_new_tokens=3, interventions=[ablate_head(5, 2)])
    assert gen.trace.dtype == torch.bfloat16 and gen.top_probs.dtype == torch.float32
    assert gen.new_tokens[0] == smollm.generate(text, max_new_tokens=1, interventions=[ablate_head(5, 2)]).new_tokens[0]
    assert (gen.trace.layer_patterns(4).sum(-1) - 1).abs().max().item() <= ROW_SUM_TOL


def test_float16_on_the_cpu_and_unknown_dtypes_are_refused_before_any_file_is_read() -> None:
    # The name need not exist: the dtype is checked first.
    with pytest.raises(ModelLoadError, match="float16 weights are not supported on the CPU.*bfloat16"):
        load_model("no-such-model", device="cpu", dtype="float16")
    with pytest.raises(ModelLoadError, match="float16 weights are not supported on the CPU"):
        load_model("no-such-model", device="cpu", dtype=torch.float16)
    with pytest.raises(ModelLoadError, match="Unknown weight dtype 'float8'.*float32, bfloat16, float16"):
        load_model("no-such-model", device="cpu", dtype="float8")


def test_the_memory_check_counts_two_bytes_per_parameter_in_half_precision(tmp_path, monkeypatch) -> None:
    path = tmp_path / "tiny.safetensors"
    save_file({"a": torch.zeros(300, 200), "b": torch.zeros(1000, dtype=torch.float16)}, str(path))
    numel = 300 * 200 + 1000
    f32 = memory.float32_bytes("safetensors", path)
    assert f32 == 4 * numel  # whatever the file's dtype, the engine's float32 copy
    assert memory.weight_bytes(f32, torch.bfloat16) == memory.weight_bytes(f32, torch.float16) == 2 * numel
    assert memory.weight_bytes(f32, torch.float32) == f32

    free = {"cpu": 64 * GiB, "cuda": 6 * GiB}
    monkeypatch.setattr(memory, "available_bytes", lambda d: free[d.type])
    gpu, size = torch.device("cuda"), 8 * GiB  # a 2B-parameter model: 8 GiB in float32, 4 GiB in half
    with pytest.raises(ModelLoadError, match=r"8\.00 GiB in float32.*In bfloat16 it would take 4\.00 GiB and fit"):
        memory.check_fits("two-b", size, gpu, converting=False)
    memory.check_fits("two-b", size, gpu, converting=False, dtype=torch.bfloat16)  # fits: no error
    free["cuda"] = 3 * GiB
    with pytest.raises(ModelLoadError, match=r"too large for the CUDA device.*4\.00 GiB in float16"):
        memory.check_fits("two-b", size, gpu, converting=False, dtype=torch.float16)
    with pytest.raises(ModelLoadError, match="Pick a smaller model") as refused:
        memory.check_fits("two-b", size, gpu, converting=False)
    assert "bfloat16" not in str(refused.value)  # no hint when half precision would not fit either
    free["cpu"] = 6 * GiB  # a cached load on the CPU holds the weights in their dtype ...
    memory.check_fits("two-b", size, torch.device("cpu"), converting=False, dtype=torch.bfloat16)
    with pytest.raises(ModelLoadError, match=r"too large for this machine: its weights take 4\.00 GiB in bfloat16"):
        # ... but a first load converts in float32 (8 GiB × 2.2) whatever the dtype
        memory.check_fits("two-b", size, torch.device("cpu"), converting=True, dtype=torch.bfloat16)


def test_load_model_refuses_float32_but_loads_bfloat16_under_the_same_limit(smollm, monkeypatch) -> None:
    # SmolLM2 (converted cache present: the smollm fixture loaded it) is 0.50 GiB in float32 and 0.25 GiB in
    # bfloat16, each plus 0.25 GiB of headroom: 0.6 GiB holds the second only.
    monkeypatch.setenv(memory.LIMIT_ENV, "0.6")
    with pytest.raises(ModelLoadError, match=r"smollm2-135m is too large for this machine.*0\.50 GiB in float32"):
        load_model("smollm2-135m", device="cpu")
    assert load_model("smollm2-135m", device="cpu", dtype="bfloat16").dtype == torch.bfloat16
