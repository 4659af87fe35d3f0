"""Benchmark attention_core against Hugging Face transformers on the same GGUF weights.

    python bench/engine.py                               # 32, 512 and 2048 tokens, loads, matmul rate
    python bench/engine.py --lengths 32 512 2048 4096 --json results.json
    python bench/engine.py --lengths 32 128 --repeats 2  # a quick smoke run

In one run it prints, per length: our `model.trace(text)` time, trace + full logits time, HF eager time with
`output_attentions=True, output_hidden_states=True`, their ratio, the arithmetic floor (FLOPs of the forward
/ measured fp32 matmul rate) and peak memory of each; then load times (ours cold and warm, HF's GGUF load).

Every measurement runs in its own fresh subprocess (`--worker ...`, which prints one JSON line) so that each
(implementation, length) pair gets an honest peak RSS: a process's high-water mark never goes down, so one
process measuring several things would report the largest of them for all.

The code is the package bench/engine_vs_hf/ (one module per job: workers, measurement, report, command line);
this file is its entry point, and what each worker process runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `python bench/engine.py` puts bench/, not the repository root, on sys.path; attention_core and the bench
# package live at the root. The one path fix-up of the benchmark (`python -m bench.engine` needs none).
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.engine_vs_hf.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
