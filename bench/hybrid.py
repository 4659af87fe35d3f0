"""A hybrid's forward pass: the engine's trace of a Qwen3.5-shaped language model (three gated delta rule layers and one
attention layer at Qwen3.5-0.8B's widths: d_model 1024, 16 value heads of 128; random weights, a 300-token vocabulary)
or of a Falcon-H1-shaped one (--shape falcon_h1: four layers of attention beside a Mamba-2 scan at Falcon-H1-0.5B's
widths: d_model 1024, 8 heads of 64, a scan of 24 heads of 64 with a state of 128) against transformers' forward pass
on the same ids, in the same run; or of a RecurrentGemma-shaped one (--shape recurrent_gemma: two RG-LRU layers and one
local attention layer at recurrentgemma-2b's widths: d_model 2560, 10 heads of 256 with one key/value head, a
recurrence 2560 wide in 10 blocks).

    python bench/hybrid.py
    python bench/hybrid.py --lengths 256 1024 2048 --repeats 3
    python bench/hybrid.py --shape falcon_h1
    python bench/hybrid.py --shape recurrent_gemma

The engine runs the delta rule (delta_net.scan) and the Mamba-2 scan (mamba.scan) 64 tokens a step; for the scan the
same run also times the engine with its token-by-token twin (mamba.recur) in its place. transformers runs, on a CPU
without the fla or mamba kernels, its own chunked torch code. Per-token cost grows with the length, so the ratio is
printed per length.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from attention_core import load_model  # noqa: E402

TEXT = "the quick brown fox jumps over the lazy dog " * 1000


SAME_IDS = dict(vocab_size=300, pad_token_id=0, bos_token_id=0, eos_token_id=0)  # the byte-level tokenizer's
# shape → (transformers' config class, its model class, the widths)
SHAPES = {
    "qwen3_5": ("Qwen3_5TextConfig", "Qwen3_5ForCausalLM", dict(
        hidden_size=1024, intermediate_size=3584, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
        head_dim=256, max_position_embeddings=8192, linear_conv_kernel_dim=4, linear_key_head_dim=128,
        linear_value_head_dim=128, linear_num_key_heads=16, linear_num_value_heads=16,
        layer_types=["linear_attention"] * 3 + ["full_attention"])),
    "falcon_h1": ("FalconH1Config", "FalconH1ForCausalLM", dict(
        hidden_size=1024, intermediate_size=2048, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
        head_dim=64, max_position_embeddings=8192, mamba_d_ssm=1536, mamba_n_heads=24, mamba_n_groups=1,
        mamba_d_state=128, mamba_d_conv=4)),
    "recurrent_gemma": ("RecurrentGemmaConfig", "RecurrentGemmaForCausalLM", dict(
        hidden_size=2560, intermediate_size=15360, num_hidden_layers=3, num_attention_heads=10, num_key_value_heads=1,
        lru_width=2560, attention_window_size=2048)),
}  # fmt: skip


def build(folder: Path, shape: str = "qwen3_5"):
    """The `shape`-shaped model (SHAPES), random weights, saved as a folder with the byte-level tokenizer."""
    import transformers

    config_class, model_class, widths = SHAPES[shape]
    torch.manual_seed(0)
    config = getattr(transformers, config_class)(**widths, **SAME_IDS)
    return _saved(getattr(transformers, model_class)(config), folder)


def _saved(model, folder: Path):
    """`model` in eval mode, saved in `folder` with the byte-level tokenizer (`_tokenizer`)."""
    model.eval().save_pretrained(folder)
    _tokenizer(folder)
    return model


def _tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {chr(i + 33): i for i in range(300)}  # one token a character: enough for timing
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=chr(33)))
    tokenizer.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer.save(str(folder / "tokenizer.json"))


def best(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--shape", choices=tuple(SHAPES), default="qwen3_5")
    args = parser.parse_args()
    scan = args.shape == "falcon_h1"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / f"{args.shape}_shaped"
        hf = build(folder, args.shape)
        ours = load_model(str(folder), device="cpu")
        ours.trace(TEXT, max_tokens=16)  # warm
        rows = [_timed(ours, hf, n, args.repeats, scan) for n in args.lengths]
    print(f"{'tokens':>7} {'ours (s)':>9} {'transformers (s)':>17} {'ratio':>6}"
          + (f" {'token by token (s)':>19} {'ratio':>6}" if scan else ""))  # fmt: skip
    for n, mine, theirs, plain in rows:
        print(f"{n:>7} {mine:>9.2f} {theirs:>17.2f} {mine / theirs:>6.2f}"
              + (f" {plain:>19.2f} {mine / plain:>6.2f}" if scan else ""))  # fmt: skip
    print(f"(median ratio {statistics.median(r[1] / r[2] for r in rows):.2f}; torch {torch.__version__})")


def _timed(ours, hf, n: int, repeats: int, scan: bool) -> tuple[int, float, float, float]:
    """(tokens, our trace's best time, transformers' forward pass's, our trace's with the token-by-token scan)."""
    from attention_core import mamba

    trace = ours.trace(TEXT, max_tokens=n)
    ids = torch.tensor([trace.token_ids])
    mine = best(lambda: ours.trace(TEXT, max_tokens=n), repeats)
    with torch.inference_mode():
        theirs = best(lambda: hf(ids), repeats)
    plain = float("nan")
    if scan:  # the same pass with mamba.recur in mamba.scan's place: the reference for the chunked scan
        chunked, mamba.scan = mamba.scan, lambda d, h=None: mamba.recur(d, h)
        try:
            plain = best(lambda: ours.trace(TEXT, max_tokens=n), repeats)
        finally:
            mamba.scan = chunked
    return trace.n_tokens, mine, theirs, plain


if __name__ == "__main__":
    main()
