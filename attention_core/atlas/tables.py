"""The atlas on disk: FILE.parquet (layer, head, statistic, value, n_queries) and FILE.examples.parquet (the
top examples per head and statistic), with the run's settings in the Parquet metadata under b"atlas".

Written atomically: both tables go to temporary files in the target folder and are renamed into place only
when both are complete, so an interrupted run leaves the previous atlas (or nothing), never half a table. The
statistics table (what marks an atlas present) is renamed last; if that fails, the examples file is put back as
it was (the previous one, or none), so a failed write never leaves a new examples file beside an old or missing
table. Two renames cannot be one: only the process dying between them (microseconds) leaves a mixed pair.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from attention_core.errors import InputError

STATS_COLUMNS = ("layer", "head", "statistic", "value", "n_queries")
META_KEY = b"atlas"


def examples_path(out: Path) -> Path:
    """FILE.parquet → FILE.examples.parquet."""
    return out.with_name(out.name.removesuffix(".parquet") + ".examples.parquet")


def _table(rows: list[dict], metadata: dict) -> pa.Table:
    table = pa.Table.from_pylist(rows)
    return table.replace_schema_metadata({META_KEY: json.dumps(metadata, sort_keys=True).encode()})


class OutputError(InputError):
    """The atlas cannot be written where it was asked to go: the message says where and why."""


def check_output(out: Path) -> None:
    """Raise OutputError if the atlas could not be written to `out` (a folder in the way, a folder that cannot
    be made or written to): checked before a job runs, so hours of work do not end on an unwritable path. Makes
    the folder, as write_atlas would, and writes and removes a probe file in it (a permission check would pass
    for root where the write still fails, e.g. under /proc)."""
    out = Path(out)
    for target in (out, examples_path(out)):
        if target.is_dir():
            raise OutputError(f"{target} is a folder; name a .parquet file (its examples go beside it).")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".probe", dir=out.parent)
    except (FileExistsError, NotADirectoryError):  # mkdir's words for a file where a folder should be
        raise OutputError(f"cannot write in {out.parent}: a file is in the way of that folder.") from None
    except OSError as exc:
        raise OutputError(f"cannot write in {out.parent} ({exc.strerror or exc}).") from None
    os.close(fd)
    os.unlink(probe)


def _written_temp(target: Path, table: pa.Table) -> Path:
    """The table written to a new temporary file beside `target`, with an ordinary file's permissions."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        pq.write_table(table, name)
        os.chmod(name, 0o666 & ~_umask())  # mkstemp makes 0600; the atlas is an ordinary file
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _kept_copy(path: Path) -> Path | None:
    """A second name for the file at `path` (a hard link, else a copy), to put back if the write fails."""
    if not path.is_file():
        return None
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".previous", dir=path.parent)
    os.close(fd)
    try:
        os.unlink(name)
        os.link(path, name)
    except OSError:  # a file system without hard links
        try:
            shutil.copyfile(path, name)
        except BaseException:
            os.unlink(name)
            raise
    return Path(name)


def write_atlas(stats: list[dict], examples: list[dict], out: Path, metadata: dict) -> None:
    """Write the pair (module docstring: the table is renamed last, and a failure leaves the previous pair)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    examples_out = examples_path(out)
    made: list[Path] = []  # every temporary file, removed at the end whatever happened
    try:
        made.append(table_temp := _written_temp(out, _table(stats, metadata)))
        made.append(examples_temp := _written_temp(examples_out, _table(examples, metadata)))
        previous = _kept_copy(examples_out)
        made += [previous] if previous else []
        os.replace(examples_temp, examples_out)
        try:
            os.replace(table_temp, out)
        except BaseException:
            if previous:
                os.replace(previous, examples_out)
            else:
                examples_out.unlink(missing_ok=True)
            raise
    finally:
        for temp in made:
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
