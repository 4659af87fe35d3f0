"""python -m attention_core.atlas --model NAME_OR_PATH --corpus FILE|default --out FILE.parquet
[--max-tokens 256] [--address ADDRESS] [--workers 2] [--in-process] [--limit N] [--seed 0]

Computes every head's statistics over the corpus (docs/atlas.md) and writes FILE.parquet and
FILE.examples.parquet. Ray runs the job (on this machine unless --address or $RAY_ADDRESS names a cluster);
--in-process runs the same work without Ray.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from dataclasses import asdict
from pathlib import Path

from attention_core.atlas import job
from attention_core.atlas.corpus import corpus_path, read_corpus
from attention_core.atlas.tables import write_atlas
from attention_core.errors import InputError, ModelLoadError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m attention_core.atlas", description=__doc__.split("\n\n")[1])
    p.add_argument("--model", required=True, help="an embedded model name (smollm2-135m, minilm-l6) or a path")
    p.add_argument(
        "--corpus", required=True, help="a .txt (one document per line), .jsonl or .parquet file, or default"
    )
    p.add_argument("--out", required=True, type=Path, help="FILE.parquet (FILE.examples.parquet is written beside it)")
    p.add_argument("--max-tokens", type=int, default=256, help="each document is cut to this many tokens")
    p.add_argument("--address", default=None, help="an existing Ray cluster (default: $RAY_ADDRESS, else local Ray)")
    p.add_argument("--workers", type=int, default=2, help="actors, each holding the model (default 2)")
    p.add_argument("--in-process", action="store_true", help="run without Ray")
    p.add_argument("--limit", type=int, default=None, help="only the corpus's first N documents")
    p.add_argument("--corpus-name", default=None, help="the corpus's name as shown (default: its file name)")
    p.add_argument("--seed", type=int, default=0, help="seeds the induction sequences")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--induction-sequences", type=int, default=32, help="repeated random sequences (default 32)")
    p.add_argument("--induction-period", type=int, default=40, help="their length before the repeat (default 40)")
    return p


def _progress(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} documents", end="", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.out.name.endswith(".parquet"):
        print("error: --out must name a .parquet file", file=sys.stderr)
        return 2
    try:
        docs = read_corpus(args.corpus, args.limit)
        settings = job.AtlasSettings(
            args.model, args.max_tokens, args.seed, args.induction_sequences, args.induction_period, args.batch_size
        )
        items = job.work_items(docs, settings)
        started = time.monotonic()
        if args.in_process:
            batches = job.run_in_process(items, settings, _progress)
        else:
            batches = job.run_on_ray(items, settings, args.workers, args.address, _progress)
        print(file=sys.stderr)
        stats, examples = job.reduce_rows(batches, len(docs), settings.induction_sequences)
    except (InputError, ModelLoadError, ValueError) as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2
    corpus = corpus_path(args.corpus)
    metadata = {
        **asdict(settings),
        "corpus": "default" if args.corpus == "default" else str(corpus),
        "corpus_name": args.corpus_name or ("the default corpus" if args.corpus == "default" else corpus.name),
        "corpus_sha256": hashlib.sha256(corpus.read_bytes()).hexdigest(),
        "n_documents": len(docs),
        "seconds": round(time.monotonic() - started, 1),
        "runner": "in-process" if args.in_process else f"ray ({args.workers} workers)",
    }
    write_atlas(stats, examples, args.out, metadata)
    print(f"wrote {args.out} ({len(stats)} rows) in {metadata['seconds']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
