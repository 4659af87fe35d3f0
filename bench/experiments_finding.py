"""Reproduce the Experiments page's finding from the command line (no Streamlit):

    python -m bench.experiments_finding                       # the default sentence on SmolLM2
    python -m bench.experiments_finding --text "The Eiffel Tower is located in the city of"

For the text: the model's top next token, the heads ranked by how much zeroing each alone lowers its
log-probability (the engine's batched sweep), then a single-ablation trace of each of the top heads to
confirm the sweep's number and to show whether the top prediction changes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from attention_core import ablate_head, load_model
from ui.url import DEFAULT_TEXT
from viz.views.experiments import next_token_logprobs, rank_heads_by_effect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--top", type=int, default=5, help="how many of the top-ranked heads to confirm")
    args = parser.parse_args(argv)

    model = load_model(args.model, device="cpu")
    tok = model.tokenizer
    trace = model.trace(args.text)
    before = next_token_logprobs(trace)
    if before is None:
        print(f"{args.model} has no next-token head: nothing to rank.")
        return 1
    target = int(np.argmax(before))
    name = tok.decode_token(target)
    print(f"text: {args.text!r} ({trace.n_tokens} tokens), model {args.model}")
    print(f"top next token: {name!r}  p = {np.exp(before[target]):.4f}")
    t0 = time.perf_counter()
    sweep = trace.ablation_sweep(target).numpy().astype(np.float64)  # the engine's batched sweep
    print(f"sweep of {sweep.size} heads: {time.perf_counter() - t0:.1f} s")
    print(f"{'head':>8}  {'Δ log p (sweep)':>15}  {'Δ log p (single)':>16}  top prediction after")
    for effect in rank_heads_by_effect(sweep)[: args.top]:
        after = next_token_logprobs(model.trace(args.text, interventions=[ablate_head(effect.layer, effect.head)]))
        single = float(after[target] - before[target])
        new = int(np.argmax(after))
        flip = f"{tok.decode_token(new)!r} p = {np.exp(after[new]):.4f}"
        flip += "  ← changed" if new != target else "  (unchanged)"
        print(f"  L{effect.layer:>2}H{effect.head}  {effect.dlogp:>15.3f}  {single:>16.3f}  {flip}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
