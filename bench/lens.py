"""The logit-lens grid's time: `trace.lens_top(5)` (every layer × position, top 5, computed blockwise) on
SmolLM2-135M, and the trace it reads, at 64 and 512 tokens.

    python bench/lens.py
    python bench/lens.py --lengths 64 512 1024 --repeats 5
    python bench/lens.py --finding        # where the default sentence's last prediction settles (no timing)

The page's grid is trace + lens_top (the trace is usually cached already, since every page shares it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from attention_core import load_model  # noqa: E402
from attention_core.backend import set_threads_for  # noqa: E402

SOURCE = (
    "Attention lets every token look at the others and decide what matters. Each head computes queries and "
    "keys, compares them with dot products, scales the result and normalizes each row with a softmax. "
) * 60


def text_of(model, n_tokens: int) -> str:
    ids = model.tokenizer.encode(SOURCE, 100_000).ids[:n_tokens]
    return model.tokenizer.decode(ids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--finding", action="store_true", help="print the default sentence's settling layer")
    args = parser.parse_args()
    model = load_model("smollm2-135m", device="cpu")
    if args.finding:
        return finding(model)
    print(f"torch {torch.__version__}, {model.config.n_layers} layers, vocabulary {model.config.d_vocab}")
    for n in args.lengths:
        text = text_of(model, n)
        trace_t, grid_t = [], []
        for _ in range(args.repeats + 1):  # the first is a warm-up
            set_threads_for(n)  # as the app's trace service does
            t0 = time.perf_counter()
            trace = model.trace(text)
            t1 = time.perf_counter()
            set_threads_for(trace.n_layers * trace.n_tokens)  # as services/lens.py does for the grid
            top = trace.lens_top(5)
            t2 = time.perf_counter()
            trace_t.append(t1 - t0)
            grid_t.append(t2 - t1)
        tr, gr = statistics.median(trace_t[1:]), statistics.median(grid_t[1:])
        print(
            f"{trace.n_tokens:5d} tokens: lens grid {gr:6.2f} s, trace {tr:6.2f} s, both {tr + gr:6.2f} s "
            f"(grid {tuple(top.ids.shape)}, grid threads {torch.get_num_threads()})"
        )
    return 0


def finding(model, text: str = "a fluffy blue creature roamed the verdant forest") -> int:
    """The first block after which the lens's top-1 at the last position is the final answer, and stays."""
    trace = model.trace(text)
    top = trace.lens_top(5)
    top1 = top.ids[:, -1, 0].tolist()  # [n_layers] the lens's top-1 after each block
    final = top1[-1]
    settled = next(i for i in range(len(top1)) if all(t == final for t in top1[i:]))
    print(f"text: {text!r}; final prediction after the last token: {trace.decode_token(final)!r}")
    print(f"first shown after block {top1.index(final)}; settled (top-1 from there on) after block {settled}")
    for layer, token in enumerate(top1):
        p = float(top.probs[layer, -1, 0])
        print(f"  after block {layer:2d}: {trace.decode_token(token)!r:14} {p:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
