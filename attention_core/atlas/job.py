"""The atlas job: documents → per-batch rows (documents.BatchStats) → one corpus table, in-process or on Ray.

Both paths run the same `AtlasWorker` on the same batches, and `reduce_rows` adds batch rows up with exact
sums, so the numbers do not depend on which path ran, how many workers there were, or the order batches
came back in. Ray Data is imported only by `run_on_ray`; without an address it starts Ray on this machine,
with one (or $RAY_ADDRESS) it joins an existing cluster.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from attention_core.atlas.corpus import Document
from attention_core.atlas.documents import ENDS, EXAMPLES_PER_HEAD, BatchStats, induction_ids
from attention_core.errors import InputError, ModelLoadError

Progress = Callable[[int, int], None]  # (documents done, documents in all)
# What a bad model, setting or document raises: the CLI says the message and exits 2 (a bug raises anything else).
INPUT_ERRORS = (InputError, ModelLoadError, ValueError)


class WorkerError(InputError):
    """An input error a Ray worker raised, with the worker's own message (Ray's wrapping of it dropped)."""


@dataclass(frozen=True)
class AtlasSettings:
    model: str
    max_tokens: int = 256
    seed: int = 0
    induction_sequences: int = 32
    induction_period: int = 40
    batch_size: int = 8


def work_items(docs: list[Document], settings: AtlasSettings) -> list[dict]:
    """Every unit of work: the corpus's documents, then the seeded induction sequences."""
    items = [{"kind": "text", "doc_id": d.doc_id, "text": d.text} for d in docs]
    items += [{"kind": "induction", "doc_id": i, "text": ""} for i in range(settings.induction_sequences)]
    return items


class AtlasWorker:
    """Holds one model; called with a batch (columns kind, doc_id, text), returns the batch's rows. Ray Data
    makes one per actor; the in-process loop makes one.

    On a CPU the worker's threads each trace their own documents, with one torch thread each, instead of
    splitting every matrix product of one document between them. A document of ≤ 256 tokens has products too
    small to split well, and split work waits at OpenMP's barrier for the slowest thread: on a 2-core machine
    where Ray's own processes take turns on the cores, that barrier cost an actor with two torch threads ~20 %
    of the loop's speed (docs/performance.md), while a preempted thread of its own document delays only that
    document. The documents' numbers are added up in batch order, so the rows equal a one-by-one loop's."""

    def __init__(self, settings: dict):
        import torch

        from attention_core.api import load_model

        self.settings = AtlasSettings(**settings)
        threads = int(os.environ.get("ATLAS_WORKER_THREADS") or torch.get_num_threads())
        self.model = load_model(self.settings.model)
        self.threads = threads if self.model.device.type == "cpu" else 1
        torch.set_num_threads(1 if self.threads > 1 else threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        work = list(zip(batch["kind"], batch["doc_id"], batch["text"], strict=True))
        if self.threads > 1:
            with ThreadPoolExecutor(self.threads) as pool:
                per_document = list(pool.map(self._document, work))
        else:
            per_document = [self._document(item) for item in work]
        stats = BatchStats(self.model)
        for one in per_document:  # in batch order: the same sums and examples as adding them one by one
            stats.merge(one)
        rows = stats.rows()
        # Names the batch, so progress can count batches once however Ray regroups rows into blocks.
        rows["batch_key"] = np.full(len(rows["layer"]), _batch_key(batch), dtype=object)
        return rows

    def _document(self, item: tuple) -> BatchStats:
        """One document's (or induction sequence's) statistics."""
        kind, doc_id, text = item
        s, stats = self.settings, BatchStats(self.model)
        if kind == "text":
            stats.add_trace(self.model.trace(str(text), max_tokens=s.max_tokens), int(doc_id), "text")
        else:
            ids, start = induction_ids(self.model, int(doc_id), s.induction_period, s.seed)
            stats.add_trace(self.model.trace_ids(ids), int(doc_id), "induction", (start, s.induction_period))
        return stats


@dataclass(frozen=True)
class ModelLimits:
    """What the CLI checks --max-tokens and --induction-period against."""

    name: str
    n_ctx: int  # positions the model takes
    n_special: int  # tokens its tokenizer puts around any text ([CLS] … [SEP]: 2; SmolLM2: 0)


def model_limits(model: str) -> ModelLimits:
    """What a job's settings are checked against before any worker starts, read from the model's config and
    tokenizer (a GGUF's header, a folder's config.json and tokenizer.json), not its weights: ~0.2 s where each
    worker's load is the whole model. Raises what load_model raises for a model that is not there."""
    from attention_core.loading.gguf import gguf_config_and_tokenizer
    from attention_core.loading.safetensors_hf import hf_config_and_tokenizer
    from attention_core.registry import resolve

    source = resolve(model)
    read = gguf_config_and_tokenizer if source.kind == "gguf" else hf_config_and_tokenizer  # the loaders' own
    config, raw = read(source.path, source.name)
    # As documents.special_frame counts them: a text's tokens with and without the special ones.
    with_special, plain = (raw.encode("word", add_special_tokens=add).ids for add in (True, False))
    return ModelLimits(config.name, config.n_ctx, len(with_special) - len(plain))


def _batch_key(batch: dict[str, np.ndarray]) -> str:
    return f"{batch['kind'][0]}:{batch['doc_id'][0]}"


class RayAtlasWorker:
    """AtlasWorker as Ray's actor, its input errors returned as data: a row whose `error` column holds the
    message, which run_on_ray raises as WorkerError. Raised, Ray would keep only the traceback's text (an error
    in the constructor becomes an ActorDiedError after actor restarts, each printing its traceback; one in a
    batch a UserCodeException ending in retry advice, which is what the app's page would show)."""

    def __init__(self, settings: dict):
        self.error: str | None = None
        try:
            self.worker = AtlasWorker(settings)
        except INPUT_ERRORS as exc:
            self.error = str(exc) or type(exc).__name__  # an empty message would read as no error

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.error is None:
            try:
                rows = self.worker(batch)
                rows["error"] = np.full(len(rows["layer"]), "", dtype=object)
                return rows
            except INPUT_ERRORS as exc:
                self.error = str(exc) or type(exc).__name__
        # One row with every column a batch's rows have (BatchStats' empty table gives their names and types,
        # and needs no model), so Ray can put it in one block with other batches' rows.
        empty = BatchStats(None).rows()  # type: ignore[arg-type]
        row = {k: np.full(1, "" if v.dtype == object else -1, dtype=v.dtype) for k, v in empty.items()}
        row["batch_key"], row["error"] = (np.array([said], dtype=object) for said in (_batch_key(batch), self.error))
        return row


def _batches(items: list[dict], size: int) -> Iterator[dict[str, np.ndarray]]:
    for at in range(0, len(items), size):
        chunk = items[at : at + size]
        yield {key: np.array([item[key] for item in chunk], dtype=object) for key in ("kind", "doc_id", "text")}


def run_in_process(items: list[dict], settings: AtlasSettings, progress: Progress | None = None) -> list[dict]:
    """The loop without Ray: one worker, the same batches. The caller's torch thread count is restored after."""
    import torch

    threads = torch.get_num_threads()
    try:
        worker = AtlasWorker(asdict(settings))
        out, done = [], 0
        for batch in _batches(items, settings.batch_size):
            out.append(worker(batch))
            done += len(batch["kind"])
            if progress:
                progress(done, len(items))
        return out
    finally:
        torch.set_num_threads(threads)


def run_on_ray(
    items: list[dict], settings: AtlasSettings, workers: int = 2, address: str | None = None,
    progress: Progress | None = None,
) -> list[dict]:  # fmt: skip
    """Ray Data: `map_batches` over an actor pool of `workers` actors that each hold the model (one GPU each
    where the cluster has GPUs). Batches whose actor dies are retried by Ray on a restarted actor (Ray Data's
    default for an actor pool; tests/atlas/test_job.py kills one mid-job)."""
    import ray

    start_ray(address, workers)
    ray.data.DataContext.get_current().enable_progress_bars = False  # the CLI draws its own
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    ds = ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / settings.batch_size)))
    rows = ds.map_batches(
        RayAtlasWorker,
        fn_constructor_kwargs={"settings": asdict(settings)},
        batch_size=settings.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
        num_gpus=gpus,
        # No max_restarts / max_task_retries: an actor pool's defaults are already -1 and -1 (a worker that dies is
        # replaced and its batch runs again on the replacement), and Ray 2.64 drops such extra remote arguments.
    )
    out: list[dict] = []
    seen: dict[str, int] = {}  # batch → its documents: Ray may split one batch's rows over several blocks
    for batch in rows.iter_batches(batch_size=None, batch_format="numpy"):
        said = [str(e) for e in batch["error"] if e]
        if said:  # the first error ends the job (leaving the loop stops the dataset's execution)
            raise WorkerError(said[0])
        out.append(batch)
        seen.update(zip(batch["batch_key"], (int(d) for d in batch["batch_docs"]), strict=True))
        if progress:
            progress(min(sum(seen.values()), len(items)), len(items))
    return out


def start_ray(address: str | None, workers: int) -> None:
    """Join the Ray at `address` (or $RAY_ADDRESS), else start a local one with `workers` CPUs; nothing if this
    process has joined one already (its size then stays as it was started)."""
    import ray

    if ray.is_initialized():
        return
    here = str(Path(__file__).resolve().parents[2])  # workers import attention_core from this checkout
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address, runtime_env={"env_vars": {"PYTHONPATH": here}}, log_to_driver=False)
    else:  # this machine: share its cores between the actors rather than let each take them all
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        env = {"PYTHONPATH": here, "ATLAS_WORKER_THREADS": threads}
        ray.init(num_cpus=workers, include_dashboard=False, runtime_env={"env_vars": env}, log_to_driver=False)


def reduce_rows(batches: Iterable[dict], n_text: int, n_induction: int) -> tuple[list[dict], list[dict]]:
    """Batch rows → (statistics rows, example rows). Raises if any document was lost or counted twice."""
    groups: dict[tuple[int, int, str], dict] = defaultdict(lambda: {"sums": [], "n": 0, "docs": 0, "ex": []})
    for batch in batches:
        for i in range(len(batch["layer"])):
            g = groups[(int(batch["layer"][i]), int(batch["head"][i]), str(batch["statistic"][i]))]
            g["sums"].append(float(batch["sum"][i]))
            g["n"] += int(batch["n_queries"][i])
            g["docs"] += int(batch["n_docs"][i])
            g["ex"] += json.loads(batch["examples"][i])
    stats, examples = [], []
    for (layer, head, name), g in sorted(groups.items()):
        expected = n_induction if name == "induction" else n_text
        if g["docs"] != expected:
            raise RuntimeError(f"{name} at L{layer}H{head} counted {g['docs']} documents, not {expected}")
        value = math.fsum(g["sums"]) / g["n"] if g["n"] else float("nan")
        stats.append({"layer": layer, "head": head, "statistic": name, "value": value, "n_queries": g["n"]})
        for end in ENDS:  # each end's best first; ties: the earlier document, then the earlier query
            sign = -1 if end == "highest" else 1
            mine = [e for e in g["ex"] if e["end"] == end]
            best = sorted(mine, key=lambda e: (sign * e["value"], e["doc_id"], e["query"]))[:EXAMPLES_PER_HEAD]
            here = {"layer": layer, "head": head, "statistic": name}
            examples += [{**here, "rank": r, **e} for r, e in enumerate(best)]
    return stats, examples
