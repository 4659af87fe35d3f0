"""A hybrid's forward pass: the engine's trace of a Qwen3.5-shaped language model (three gated delta rule layers and one
attention layer at Qwen3.5-0.8B's widths: d_model 1024, 16 value heads of 128; random weights, a 300-token vocabulary)
against transformers' forward pass on the same ids, in the same run.

    python bench/hybrid.py
    python bench/hybrid.py --lengths 256 1024 2048 --repeats 3

The engine runs the delta rule one token at a time (attention_core/delta_net.py); transformers, on a CPU without the
fla kernels, its own chunked torch code. Per-token cost grows with the length, so the ratio is printed per length.
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


def build(folder: Path):
    """The Qwen3.5-shaped model, saved as a folder with a byte-level tokenizer of 300 tokens."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    torch.manual_seed(0)
    cfg = transformers.Qwen3_5TextConfig(
        vocab_size=300, hidden_size=1024, intermediate_size=3584, num_hidden_layers=4, num_attention_heads=8,
        num_key_value_heads=2, head_dim=256, max_position_embeddings=8192, linear_conv_kernel_dim=4,
        linear_key_head_dim=128, linear_value_head_dim=128, linear_num_key_heads=16, linear_num_value_heads=16,
        layer_types=["linear_attention"] * 3 + ["full_attention"], pad_token_id=0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    model = transformers.Qwen3_5ForCausalLM(cfg).eval()
    model.save_pretrained(folder)
    vocab = {chr(i + 33): i for i in range(300)}  # one token a character: enough for timing
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=chr(33)))
    tokenizer.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer.save(str(folder / "tokenizer.json"))
    return model


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "qwen3_5_shaped"
        hf = build(folder)
        ours = load_model(str(folder), device="cpu")
        ours.trace(TEXT, max_tokens=16)  # warm
        rows = []
        for n in args.lengths:
            trace = ours.trace(TEXT, max_tokens=n)
            ids = torch.tensor([trace.token_ids])
            mine = best(lambda: ours.trace(TEXT, max_tokens=n), args.repeats)  # noqa: B023
            with torch.inference_mode():
                theirs = best(lambda: hf(ids), args.repeats)  # noqa: B023
            rows.append((trace.n_tokens, mine, theirs))
    print(f"{'tokens':>7} {'ours (s)':>9} {'transformers (s)':>17} {'ratio':>6}")
    for n, mine, theirs in rows:
        print(f"{n:>7} {mine:>9.2f} {theirs:>17.2f} {mine / theirs:>6.2f}")
    print(f"(median ratio {statistics.median(m / t for _, m, t in rows):.2f}; torch {torch.__version__})")


if __name__ == "__main__":
    main()
