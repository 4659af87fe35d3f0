"""Generation speed: attention_core's `model.generate` (key/value cache) against transformers' `generate` (its
own KV cache) on the same SmolLM2-135M GGUF weights, greedy, in the same process and run.

    python bench/generation.py                      # 32-token prompt, 64 new tokens, 3 repeats each
    python bench/generation.py --repeats 5 --threads 1

The two alternate (ours, HF, ours, HF, ...) so that a machine shared with other work slows both alike; each
prints its median time per generated token (prefill included, as a user waits for it) and the ratio. Also
printed: the memory floor, the time of one pass of a single row through every weight matrix the step reads
(each matrix read from memory once, as every generated token must).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from attention_core import load_model  # noqa: E402
from attention_core.generation import step_weights  # noqa: E402

PROMPT_SOURCE = (
    "Attention lets every token look at the others and decide what matters. In a transformer, each token "
    "starts as an embedding that encodes only the word itself, and the attention blocks move these vectors"
)


def prompt_of(model, n_tokens: int) -> str:
    """A text that tokenizes to exactly n_tokens tokens."""
    ids = model.tokenizer.encode(PROMPT_SOURCE, 10_000).ids[:n_tokens]
    text = model.tokenizer.decode(ids)
    assert len(model.tokenizer.encode(text, 10_000).ids) == n_tokens, "the prompt does not round-trip"
    return text


def memory_floor_ms(model, repeats: int = 5) -> float:
    """Median time of one row through every 2-D matrix a generation step reads (plus the unembedding)."""
    w = step_weights(model.context)
    mats = [t for name, t in w.items() if t.dim() == 2 and name.startswith("blocks.")] + [w["embed.W_E"].T]
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            t0 = time.perf_counter()
            for W in mats:
                torch.ones(1, W.shape[0]) @ W
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both (default: torch's)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    ours = load_model("smollm2-135m", device="cpu")
    if args.threads:
        torch.set_num_threads(args.threads)  # loading may set its own
    path = ours.source
    tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    hf.eval()
    text = prompt_of(ours, args.prompt_tokens)
    ids = tok(text, return_tensors="pt").input_ids
    n_new = args.new_tokens

    def run_ours() -> tuple[float, list[int]]:
        t0 = time.perf_counter()
        gen = ours.generate(text, max_new_tokens=n_new)
        return time.perf_counter() - t0, gen.new_token_ids

    def run_hf() -> tuple[float, list[int]]:
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = hf.generate(ids, max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False)
        return time.perf_counter() - t0, out[0, ids.shape[1] :].tolist()

    run_ours(), run_hf()  # warm-up
    ours_t, hf_t = [], []
    for _ in range(args.repeats):
        t, ours_ids = run_ours()
        ours_t.append(t)
        t, hf_ids = run_hf()
        hf_t.append(t)
    assert len(ours_ids) == n_new, "our generation stopped early (end-of-text); pick another prompt"
    ms_ours = statistics.median(ours_t) / n_new * 1000
    ms_hf = statistics.median(hf_t) / n_new * 1000
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, threads {torch.get_num_threads()}")
    print(f"prompt {ids.shape[1]} tokens, {n_new} new tokens, greedy, median of {args.repeats}")
    print(f"same tokens as HF: {ours_ids == hf_ids}")
    print(f"ours  {ms_ours:7.1f} ms/token   (runs: {', '.join(f'{t:.2f} s' for t in ours_t)})")
    print(f"HF    {ms_hf:7.1f} ms/token   (runs: {', '.join(f'{t:.2f} s' for t in hf_t)})")
    print(f"ratio ours/HF: {ms_ours / ms_hf:.2f}   (target ≤ 0.85)")
    print(f"memory floor (one row through every matrix a step reads): {memory_floor_ms(ours):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
