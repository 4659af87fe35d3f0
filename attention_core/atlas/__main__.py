"""python -m attention_core.atlas --model NAME_OR_PATH --corpus FILE|default --out FILE.parquet
[--max-tokens 256] [--address ADDRESS] [--workers 2] [--in-process] [--limit N] [--seed 0]

Computes every head's statistics over the corpus (docs/atlas.md) and writes FILE.parquet and
FILE.examples.parquet. Ray runs the job (on this machine unless --address or $RAY_ADDRESS names a cluster);
--in-process runs the same work without Ray.
"""

from __future__ import annotations

import argparse
import hashlib
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from attention_core.atlas import job
from attention_core.atlas.corpus import corpus_path, read_corpus
from attention_core.atlas.statistics import STATISTICS_VERSION
from attention_core.atlas.tables import OutputError, check_output, write_atlas
from attention_core.errors import InputError


def _whole_number(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `least`; anything else is argparse's one-line error, exit 2."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(f"{text!r} must be a whole number of {least} or more")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m attention_core.atlas", description=__doc__.split("\n\n")[1])
    positive, natural = _whole_number(1), _whole_number(0)
    p.add_argument("--model", required=True, help="an embedded model name (smollm2-135m, minilm-l6) or a path")
    p.add_argument(
        "--corpus", required=True, help="a .txt (one document per line), .jsonl or .parquet file, or default"
    )
    p.add_argument("--out", required=True, type=Path, help="FILE.parquet (FILE.examples.parquet is written beside it)")
    p.add_argument("--max-tokens", type=positive, default=256, help="each document is cut to this many tokens")
    p.add_argument("--address", default=None, help="an existing Ray cluster (default: $RAY_ADDRESS, else local Ray)")
    p.add_argument("--workers", type=positive, default=2, help="actors, each holding the model (default 2)")
    p.add_argument("--in-process", action="store_true", help="run without Ray")
    p.add_argument("--limit", type=positive, default=None, help="only the corpus's first N documents")
    p.add_argument("--corpus-name", default=None, help="the corpus's name as shown (default: its file name)")
    p.add_argument("--seed", type=natural, default=0, help="seeds the induction sequences")
    p.add_argument("--batch-size", type=positive, default=8)
    p.add_argument("--induction-sequences", type=natural, default=32, help="repeated random sequences (default 32)")
    # A period of 1 repeats one token: the query's own earlier copy would be the "next" token.
    p.add_argument(
        "--induction-period", type=_whole_number(2), default=40, help="their length before the repeat (default 40)"
    )
    return p


def _progress(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} documents", end="", file=sys.stderr, flush=True)


def _check_against_the_model(settings: job.AtlasSettings) -> None:
    """Refuse settings the model cannot take before any worker loads it (and before Ray starts), naming the
    option: from its config and tokenizer only (job.model_limits)."""
    limits = job.model_limits(settings.model)
    n_ctx = limits.n_ctx
    if settings.max_tokens > n_ctx:
        raise InputError(f"--max-tokens {settings.max_tokens} is more than {limits.name} takes ({n_ctx} tokens).")
    need = 2 * settings.induction_period + limits.n_special  # the sequence twice, in the tokenizer's usual frame
    if settings.induction_sequences and need > n_ctx:  # not the cap: a sequence is made to fit, never cut
        raise InputError(
            f"--induction-period {settings.induction_period} makes induction sequences of {need} tokens (twice the "
            f"period, {limits.n_special} special); {limits.name} takes {n_ctx} tokens: give at most "
            f"{(n_ctx - limits.n_special) // 2}."
        )


def _run(args: argparse.Namespace, settings: job.AtlasSettings, docs: list) -> tuple[list[dict], list[dict]]:
    items = job.work_items(docs, settings)
    if args.in_process:
        batches = job.run_in_process(items, settings, _progress)
    else:
        batches = job.run_on_ray(items, settings, args.workers, args.address, _progress)
    print(file=sys.stderr)
    return job.reduce_rows(batches, len(docs), settings.induction_sequences)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.out.name.endswith(".parquet"):
        print("error: --out must name a .parquet file", file=sys.stderr)
        return 2
    settings = job.AtlasSettings(
        args.model, args.max_tokens, args.seed, args.induction_sequences, args.induction_period, args.batch_size
    )
    try:  # everything that can be checked before the job: a job of hours should not fail at its end
        docs = read_corpus(args.corpus, args.limit)
        _check_against_the_model(settings)
        check_output(args.out)
        started = time.monotonic()
        stats, examples = _run(args, settings, docs)
    except OutputError as exc:
        print(f"error: --out: {exc}", file=sys.stderr)
        return 2
    except job.INPUT_ERRORS as exc:
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
        "statistics_version": STATISTICS_VERSION,  # the definitions the numbers follow (statistics.py)
    }
    try:
        write_atlas(stats, examples, args.out, metadata)
    except OSError as exc:  # not bad input (a full disk, a folder changed under the job): exit 1, still one line
        print(f"error: could not write the atlas to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({len(stats)} rows) in {metadata['seconds']} s", file=sys.stderr)
    return 0


def answer_ctrl_c() -> None:
    """Let Ctrl-C end the job through its handlers (Ray shuts its local workers down), whatever this process was
    given: a parent that ignores SIGINT (a shell's background job, some test runners' workers) passes that on to
    its children, and the app's Stop (services/atlas.py sends Ctrl-C) then waited its whole grace and killed us."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


if __name__ == "__main__":
    answer_ctrl_c()
    sys.exit(main())
