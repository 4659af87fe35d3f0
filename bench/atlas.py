"""Atlas throughput: the in-process loop, Ray with 1 worker and Ray with 2 workers, on the same documents, in
one run. Prints documents per second, the peak memory of the process tree (driver + Ray workers, sampled
every 0.2 s, above the tree's memory before the run), and each Ray run's throughput as a ratio of the loop's.

    python bench/atlas.py                                  # SmolLM2, the default corpus's first 200 documents
    python bench/atlas.py --model minilm-l6 --docs 300 --max-tokens 128

Target (issue 15): Ray with 1 worker ≥ 0.8× the loop's documents/s (its overhead is small once amortised).
Ray's start-up (ray.init) is timed apart and not counted in a run's documents/s.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attention_core.atlas import job  # noqa: E402
from attention_core.atlas.corpus import read_corpus  # noqa: E402


class PeakMemory:
    """Peak RSS of this process and its descendants while the block runs, above what they held before."""

    def __enter__(self) -> PeakMemory:
        self.base, self.peak, self._stop = self._tree_rss(), 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def _tree_rss() -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss() - self.base)
            time.sleep(0.2)

    @property
    def mib(self) -> float:
        return self.peak / 2**20


def _timed(run) -> tuple[float, float]:
    with PeakMemory() as mem:
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
    return seconds, mem.mib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--max-tokens", type=int, default=256)
    args = ap.parse_args()
    import ray

    docs = read_corpus("default", limit=args.docs)
    settings = job.AtlasSettings(args.model, args.max_tokens, induction_sequences=0)
    items = job.work_items(docs, settings)
    results = [("in-process loop", *_timed(lambda: job.run_in_process(items, settings)))]
    for workers in (1, 2):
        start = time.perf_counter()
        job.start_ray(None, workers)
        startup = time.perf_counter() - start
        seconds, mib = _timed(lambda w=workers: job.run_on_ray(items, settings, workers=w))
        ray.shutdown()
        name = f"Ray, {workers} worker{'s' if workers > 1 else ''} (+{startup:.1f} s start-up, not counted)"
        results.append((name, seconds, mib))
    loop_rate = len(docs) / results[0][1]
    print(f"{args.model}, {len(docs)} documents of the default corpus, ≤ {args.max_tokens} tokens each\n")
    print("| runner | seconds | documents/s | × loop | peak memory above start (MiB) |\n|---|---|---|---|---|")
    for name, seconds, mib in results:
        rate = len(docs) / seconds
        print(f"| {name} | {seconds:.1f} | {rate:.2f} | {rate / loop_rate:.2f} | {mib:.0f} |")


if __name__ == "__main__":
    main()
