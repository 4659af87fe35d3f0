"""The head atlas for the app: the shipped atlases (assets/atlas/), atlases computed here (a user folder), and
computing one in the background.

Computing runs the atlas CLI (`python -m attention_core.atlas`, on local Ray) as a child process, so Ray and
its workers live outside the app's process and the app stays usable; its progress line is read from the
child's log. Loaded atlases are cached in the one results cache (services.cache.RESULTS), keyed by file and
modification time.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attention_core import Model
from attention_core.atlas.corpus import DEFAULT_CORPUS, CorpusError, read_corpus
from attention_core.atlas.statistics import STATISTICS, STATISTICS_VERSION
from attention_core.atlas.tables import examples_path, read_atlas
from attention_core.policy import is_public
from services.cache import RESULTS
from services.models import is_embedded

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "assets" / "atlas"
_PROGRESS = re.compile(r"(\d+)/(\d+) documents")


@dataclass(frozen=True)
class AtlasData:
    """An atlas as arrays: values and n_queries [n_statistics, n_layers, n_heads] (NaN where no query
    qualified), examples by (statistic, layer, head), and the run's settings."""

    path: Path
    statistics: tuple[str, ...]
    values: np.ndarray
    n_queries: np.ndarray
    examples: dict[tuple[str, int, int], list[dict]]
    settings: dict

    @property
    def nbytes(self) -> int:  # the cache's byte budget counts the arrays; examples are small
        return int(self.values.nbytes + self.n_queries.nbytes) + 2_000 * len(self.examples)

    def head_examples(self, statistic: str, layer: int, head: int, lowest: bool = False) -> list[dict]:
        """A head's examples for a statistic, best first: its highest-value queries, or with `lowest` its lowest
        (an atlas made before the lowest were kept has only the highest: `has_lowest`)."""
        end = "lowest" if lowest else "highest"
        return [e for e in self.examples.get((statistic, layer, head), []) if e.get("end", "highest") == end]

    @functools.cached_property  # read on every run of the page; the examples never change (a frozen, cached atlas)
    def has_lowest(self) -> bool:
        """Whether the job kept each head's lowest-value examples too (atlases made before 2026-12-03 did not)."""
        return any(e.get("end") == "lowest" for found in self.examples.values() for e in found)

    @property
    def outdated(self) -> bool:
        """Made before the statistics' current definitions (attention_core.atlas.statistics.STATISTICS_VERSION;
        an atlas without the field predates it)."""
        return int(self.settings.get("statistics_version", 1)) < STATISTICS_VERSION


def user_dir() -> Path:
    """Where atlases computed here go: $ATTN_ATLAS_DIR, else ~/.cache/attention-viz/atlas."""
    return Path(os.environ.get("ATTN_ATLAS_DIR") or Path.home() / ".cache" / "attention-viz" / "atlas")


def computed_path(model: Model, corpus: StoredCorpus | None = None) -> Path:
    """Where this model's atlas computed here goes: over the default corpus, or over an uploaded `corpus`."""
    digest = hashlib.sha1(model.key.encode()).hexdigest()[:12]
    stem = f"{re.sub(r'[^A-Za-z0-9._-]', '_', model.name)}-{digest}"
    return user_dir() / (f"{stem}{CORPUS_TAG}{corpus.sha256[:12]}.parquet" if corpus else f"{stem}.parquet")


def atlas_path(model: Model) -> Path | None:
    """The atlas for this model: shipped (embedded models), else computed here, else None."""
    shipped = SHIPPED / f"{model.name}.parquet"
    if is_embedded(model.name) and shipped.is_file() and examples_path(shipped).is_file():
        return shipped
    mine = computed_path(model)
    return mine if mine.is_file() and examples_path(mine).is_file() else None


@dataclass(frozen=True)
class StoredCorpus:
    """A corpus a user uploaded, checked and kept (by content) in the atlas folder's corpora/."""

    path: Path
    name: str  # the file name it was uploaded as (shown; never a path)
    sha256: str
    n_documents: int


DEFAULT_CORPUS_NAME = "the default corpus"
CORPUS_TAG = "-corpus-"  # in an atlas file's name: the atlas of an uploaded corpus, by its content's hash
CORPUS_SUFFIXES = (".txt", ".jsonl", ".ndjson", ".parquet")


def max_corpus_mb() -> float:
    """The largest corpus one may upload: $ATTN_MAX_CORPUS_MB, else 20, and 0 (uploads off) on a public server
    (ATTN_PUBLIC), where anyone could otherwise start hour-long jobs; 0 turns uploads off."""
    said = os.environ.get("ATTN_MAX_CORPUS_MB")
    if said:
        return float(said)
    return 0.0 if is_public() else 20.0


def store_corpus(filename: str, data: bytes) -> StoredCorpus:
    """Check an uploaded corpus and keep it under its content's hash; CorpusError says what is wrong with it
    in terms of the user's own file name."""
    name = Path(filename).name
    suffix = Path(name).suffix.lower()
    if suffix not in CORPUS_SUFFIXES:
        raise CorpusError(
            f'{name}: give a .txt file (one document per line), JSON Lines (.jsonl, a string "text" field on '
            'each line) or Parquet (a "text" column).'
        )
    if max_corpus_mb() <= 0:
        raise CorpusError("Uploading a corpus is turned off on this server (ATTN_MAX_CORPUS_MB=0, or ATTN_PUBLIC).")
    if len(data) > max_corpus_mb() * 1e6:
        raise CorpusError(f"{name} is {len(data) / 1e6:.1f} MB; corpora up to {max_corpus_mb():g} MB can be uploaded.")
    sha = hashlib.sha256(data).hexdigest()
    path = user_dir() / "corpora" / f"{sha[:16]}{suffix}"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.part")
        partial.write_bytes(data)
        partial.replace(path)  # whole or absent, whichever of two sessions uploading the same bytes is last
    try:
        documents = read_corpus(path)
    except CorpusError as exc:
        path.unlink(missing_ok=True)
        raise CorpusError(str(exc).replace(str(path), name)) from None
    except Exception:  # a reader's bug: still keep no file that was never checked
        path.unlink(missing_ok=True)
        raise
    return StoredCorpus(path, name, sha, len(documents))


@dataclass(frozen=True)
class AtlasChoice:
    path: Path
    corpus: str  # "the default corpus", or the name an uploaded corpus came with (user text)
    n_documents: int | None
    uploaded: bool

    @property
    def tag(self) -> str | None:
        """An uploaded corpus's atlas by its content hash (what a shared link carries); None for the default."""
        return self.path.stem.rsplit(CORPUS_TAG, 1)[-1] if self.uploaded else None

    @property
    def label(self) -> str:
        """ "the default corpus (946 documents)", "notes.jsonl (120 documents)": plain text, for a picker."""
        return f"{self.corpus} ({self.n_documents if self.n_documents is not None else '?'} documents)"


def atlas_choices(model: Model) -> list[AtlasChoice]:
    """Every atlas of this model: the default corpus's first (shipped or computed here), then those of uploaded
    corpora, newest first."""
    found = [p for p in [atlas_path(model)] if p is not None]
    prefix = computed_path(model).stem + CORPUS_TAG
    mine = [p for p in user_dir().glob(f"{prefix}*.parquet") if not p.name.endswith(".examples.parquet")]
    found += sorted((p for p in mine if examples_path(p).is_file()), key=lambda p: -p.stat().st_mtime_ns)
    return [_choice(p, load_atlas(p).settings) for p in found]


def _choice(path: Path, settings: dict) -> AtlasChoice:
    default = settings.get("corpus") == "default"
    name = settings.get("corpus_name") or (DEFAULT_CORPUS_NAME if default else "a corpus")
    return AtlasChoice(path, str(name), settings.get("n_documents"), uploaded=CORPUS_TAG in path.name)


@dataclass(frozen=True)
class CorpusSource:
    source: str  # the `source` field of the shipped corpus's lines (assets/corpus/SOURCES.md: kjv, python-docs, ...)
    n_documents: int
    n_chars: int


@functools.cache
def corpus_sources() -> tuple[CorpusSource, ...]:
    """The shipped default corpus by source, counted from its file (the atlas page's provenance line)."""
    counts: dict[str, list[int]] = {}
    for line in DEFAULT_CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            entry = counts.setdefault(str(row.get("source", "?")), [0, 0])
            entry[0] += 1
            entry[1] += len(row["text"])
    return tuple(CorpusSource(name, n, chars) for name, (n, chars) in sorted(counts.items(), key=lambda kv: -kv[1][1]))


def atlas_csv(path: Path) -> bytes:
    """The atlas's table (layer, head, statistic, value, n_queries) as CSV, every value to full precision."""
    import pyarrow.csv as pa_csv  # with pyarrow, which the atlas's Parquet needs anyway

    stats, _, _ = read_atlas(path)
    sink = io.BytesIO()
    pa_csv.write_csv(stats, sink)
    return sink.getvalue()


def _read(path: Path) -> AtlasData:
    stats, examples, settings = read_atlas(path)
    cols = stats.to_pydict()
    n_layers, n_heads = max(cols["layer"]) + 1, max(cols["head"]) + 1
    values = np.full((len(STATISTICS), n_layers, n_heads), np.nan)
    counts = np.zeros((len(STATISTICS), n_layers, n_heads), dtype=np.int64)
    for layer, head, name, value, n in zip(
        cols["layer"], cols["head"], cols["statistic"], cols["value"], cols["n_queries"], strict=True
    ):
        s = STATISTICS.index(name)
        values[s, layer, head], counts[s, layer, head] = value, n
    by_head: dict[tuple[str, int, int], list[dict]] = {}
    for row in sorted(examples.to_pylist(), key=lambda r: r["rank"]):
        by_head.setdefault((row["statistic"], row["layer"], row["head"]), []).append(row)
    return AtlasData(path, STATISTICS, values, counts, by_head, settings)


def load_atlas(path: Path) -> AtlasData:
    """The atlas at `path`, read once per file version."""
    key = ("atlas", str(path), path.stat().st_mtime_ns)
    return RESULTS.get(key, lambda _progress: _read(path))


def example_document(model: Model, example: dict, max_tokens: int) -> tuple[list[str], list[tuple[int, int]]] | None:
    """The tokens and character offsets of the document a top example comes from, read again with the model's
    tokenizer (an atlas stores only the example's window of tokens), so the view can name its byte pieces as every
    page does. None for a repeated random sequence (no text) or when the text no longer reads as the stored
    window (another tokenizer)."""
    if example["kind"] != "text":
        return None
    enc = model.tokenizer.encode(example["text"], max_tokens)
    lo = int(example["window_start"])
    if list(enc.tokens[lo : lo + len(example["tokens"])]) != list(example["tokens"]):
        return None
    return list(enc.tokens), list(enc.offsets)


@dataclass
class AtlasRun:
    """A background computation of one model's atlas (the CLI as a child process)."""

    model_key: str
    out: Path
    log: Path
    process: subprocess.Popen
    corpus_name: str = DEFAULT_CORPUS_NAME
    stopped: bool = False  # ended by stop(): not a failure, and nothing was written

    def progress(self) -> tuple[int, int] | None:
        """(documents done, documents in all) from the child's latest progress line."""
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.is_file() else ""
        found = _PROGRESS.findall(text)
        return (int(found[-1][0]), int(found[-1][1])) if found else None

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 20.0) -> None:
        """End the job. Ctrl-C first, so the CLI exits through its atexit handlers and Ray shuts its local workers
        down; killed if it has not ended after `grace` seconds. The atlas is written only at the end: none is."""
        if not self.running:
            return
        self.stopped = True
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def error(self) -> str | None:
        """The child's last error line when it failed, else None (also when it was stopped)."""
        if self.running or self.stopped or self.process.returncode == 0:
            return None
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.is_file() else ""
        lines = [ln.strip() for ln in re.split(r"[\r\n]", text) if ln.strip()]
        said = [ln for ln in lines if ln.startswith("error:")]
        return (said or lines or [f"exit code {self.process.returncode}"])[-1]


_RUNS: dict[str, AtlasRun] = {}
_RUNS_LOCK = threading.Lock()


def running_job(model: Model) -> AtlasRun | None:
    return _RUNS.get(model.key)


INDUCTION_PERIOD = 40  # the CLI's default period of the repeated random sequences


def atlas_command(
    model: Model, corpus: str | StoredCorpus, out: Path, max_tokens: int, workers: int, limit: int | None
) -> list[str]:
    """The CLI's command line for a job: the token cap and the induction period cut to what the model's context
    takes (the CLI refuses more; a small model's context is under the default 256 tokens, or 2 × 40 + its
    special tokens)."""
    uploaded = corpus if isinstance(corpus, StoredCorpus) else None
    source = model.name if is_embedded(model.name) else str(model.source)
    n_ctx = model.config.n_ctx
    cmd = [sys.executable, "-m", "attention_core.atlas", "--model", source,
           "--corpus", str(uploaded.path) if uploaded else str(corpus),
           "--out", str(out), "--max-tokens", str(min(max_tokens, n_ctx)), "--workers", str(workers)]  # fmt: skip
    period = min(INDUCTION_PERIOD, n_ctx // 2 - 2)  # room for a start and an end token
    if period < INDUCTION_PERIOD:
        cmd += ["--induction-period", str(max(2, period))]
    if uploaded is not None:
        cmd += ["--corpus-name", uploaded.name]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    return cmd


def start_atlas(
    model: Model,
    corpus: str | StoredCorpus = "default",
    max_tokens: int = 256,
    workers: int = 2,
    limit: int | None = None,
) -> AtlasRun:
    """Start computing `model`'s atlas in the background (once per model at a time) over the default corpus, a
    corpus file, or an uploaded corpus (its atlas kept beside the default one); `limit`: only the corpus's first
    documents."""
    with _RUNS_LOCK:
        run = _RUNS.get(model.key)
        if run is not None and run.running:
            return run
        uploaded = corpus if isinstance(corpus, StoredCorpus) else None
        out = computed_path(model, uploaded)
        out.parent.mkdir(parents=True, exist_ok=True)
        log = out.with_suffix(".log")
        cmd = atlas_command(model, corpus, out, max_tokens, workers, limit)
        with open(log, "w", encoding="utf-8") as sink:
            process = subprocess.Popen(cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
        name = uploaded.name if uploaded else DEFAULT_CORPUS_NAME if corpus == "default" else Path(corpus).name
        _RUNS[model.key] = run = AtlasRun(model.key, out, log, process, name)
        return run
