"""The atlas on disk: FILE.parquet (layer, head, statistic, value, n_queries) and FILE.examples.parquet (the
top examples per head and statistic), with the run's settings in the Parquet metadata under b"atlas".

Written atomically: both tables go to temporary files in the target folder and are renamed into place only
when both are complete, so an interrupted run leaves the previous atlas (or nothing), never half a table.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

STATS_COLUMNS = ("layer", "head", "statistic", "value", "n_queries")
META_KEY = b"atlas"


def examples_path(out: Path) -> Path:
    """FILE.parquet → FILE.examples.parquet."""
    return out.with_name(out.name.removesuffix(".parquet") + ".examples.parquet")


def _table(rows: list[dict], metadata: dict) -> pa.Table:
    table = pa.Table.from_pylist(rows)
    return table.replace_schema_metadata({META_KEY: json.dumps(metadata, sort_keys=True).encode()})


def write_atlas(stats: list[dict], examples: list[dict], out: Path, metadata: dict) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    targets = [(out, _table(stats, metadata)), (examples_path(out), _table(examples, metadata))]
    temps: list[Path] = []
    try:
        for target, table in targets:
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(fd)
            temps.append(Path(name))
            pq.write_table(table, name)
            os.chmod(name, 0o666 & ~_umask())  # mkstemp makes 0600; the atlas is an ordinary file
        for (target, _), temp in zip(targets[::-1], temps[::-1], strict=True):  # the statistics table last
            os.replace(temp, target)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_atlas(path: Path) -> tuple[pa.Table, pa.Table, dict]:
    """(statistics, examples, the run's settings) of an atlas written by write_atlas."""
    stats = pq.read_table(path)
    examples = pq.read_table(examples_path(Path(path)))
    meta = json.loads((stats.schema.metadata or {}).get(META_KEY, b"{}"))
    return stats, examples, meta
