"""`attention-viz`: serve the app, or write a view / a trace's tensors to files with no server.

    attention-viz app [--port 8501]
    attention-viz export --model smollm2-135m --text "a fluffy blue creature" --layer 3 --head 0 \\
        --view head --format svg -o head.svg          (several -o: one trace, each file's format from its suffix)
    attention-viz trace --model smollm2-135m --text "..." --out trace.npz [--tensors pattern,scores,q,k,v,resid]
    (export and trace take --device cpu|cuda|mps and, on cuda, --dtype bfloat16|float16: half the weights' memory)

--text - reads the text from stdin; --max-tokens N cuts it to its first N tokens (the files and stderr say so).

Exit codes: 0 done; 2 bad arguments (one line on stderr: an unknown view, a layer out of range, empty text);
1 the model could not be loaded or the file not written (one line too, never a traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from attention_viz.base import view_title
from attention_viz.export import (
    DEFAULT_TENSORS,
    FORMATS,
    WIDTHS,
    ExportError,
    check_width,
    collect,
    tensor_names,
    write_all,
)
from attention_viz.pair_views import FROM_PAIR
from attention_viz.svg import SvgError
from attention_viz.views import FROM_GENERATION, VIEWS, ViewError, cut_note
from services.models import DEFAULT_DTYPE, DEFAULT_MODEL, DTYPES, AttentionCoreError
from viz.labels import readable_text

TABLES = ("csv", "npz")  # one head's pattern, the app's own download files
# The views whose selected head's pattern is what they draw: a CSV or NPZ of one of them holds its numbers.
PATTERN_VIEWS = ("head", "layer", "overview", "scores", "steps")


class UsageError(Exception):
    """Bad arguments: exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        raise UsageError(message)


def app_script() -> Path:
    """app.py, beside the installed app_pages/ (st.Page paths and assets/ are resolved from there)."""
    import app_pages

    return Path(app_pages.__file__).resolve().parent.parent / "app.py"


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="attention-viz", description="See attention in a real transformer.")
    sub = p.add_subparsers(dest="command", required=True)
    app = sub.add_parser("app", help="serve the Streamlit app (like make run)")
    app.add_argument("--port", type=int, default=8501)
    app.add_argument("--address", default=None, help="e.g. 0.0.0.0 in a container")
    for name in ("export", "trace"):
        s = sub.add_parser(name, help="write a view's file" if name == "export" else "write a trace's tensors")
        s.add_argument("--model", default=DEFAULT_MODEL, help="smollm2-135m, minilm-l6 or a local model folder")
        s.add_argument("--text", required=True, help="the text to trace; - reads it from stdin (a pipe, a file)")
        s.add_argument("--second-text", default=None, help="an encoder's second text: the two read as a text pair")
        s.add_argument(
            "--max-tokens", type=int, default=None,
            help="cut the text to its first N tokens (default: the model's context, up to 4096); the files say so",
        )  # fmt: skip
        s.add_argument("--device", type=_device, default="cpu", help="cpu, cuda (or cuda:N) or mps")
        s.add_argument("--dtype", choices=DTYPES, default=DEFAULT_DTYPE, help="weights; half: cuda only")
        s.add_argument("--causal", choices=["model", "on", "off"], default="model", help="default: the model's mask")
    exp = sub.choices["export"]
    views = [v for v in VIEWS if v not in FROM_GENERATION + FROM_PAIR]  # the CLI traces one text
    described = "; ".join(f"{v}: {VIEWS[v]}" for v in views)
    exp.add_argument("--view", choices=views, default="head", help=f"what to draw (default head). {described}")
    exp.add_argument("--layer", type=int, default=0, help="the layer (from 0) of the view and of a csv/npz")
    exp.add_argument("--head", type=int, default=0, help="the head (from 0) within --layer: the one drawn large")
    exp.add_argument(
        "--format", choices=FORMATS, default=None,
        help="default: from the output's suffix. svg, png, html: the view. csv, npz: the pattern of --layer/--head "
        f"(rows are queries), for a text of any length; only with --view {', '.join(PATTERN_VIEWS)}",
    )  # fmt: skip
    exp.add_argument("--orient", choices=["rows", "cols"], default="rows", help="rows: queries down the side")
    exp.add_argument("--width", type=_width, default=900, help=f"SVG/PNG width in px ({WIDTHS[0]}-{WIDTHS[1]})")
    exp.add_argument("-o", "--out", required=True, action="append", help="repeat for several files of one trace")
    tr = sub.choices["trace"]
    tr.add_argument("--out", required=True, help=".npz or .parquet")
    tr.add_argument("--tensors", default=",".join(DEFAULT_TENSORS), help="short or dotted names, comma-separated")
    return p


def _width(value: str) -> int:
    """--width: a whole number of pixels within WIDTHS, checked as the library checks a saved view's width."""
    try:
        return check_width(int(value) if value.strip().lstrip("-").isdigit() else value)
    except ExportError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _device(value: str) -> str:
    """--device: cpu, cuda, cuda:N or mps (whether this machine has it is the loader's question: exit 1)."""
    kind, colon, index = value.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (colon and not index.isdigit()):
        raise argparse.ArgumentTypeError(f"unknown device {value!r}: use cpu, cuda (or cuda:N) or mps")
    return value


def _causal(value: str) -> bool | None:
    return {"model": None, "on": True, "off": False}[value]


def _valid_text(text: str) -> str:
    """The text with bytes that are not UTF-8 as U+FFFD (one per invalid run, as Python's "replace" writes them):
    Python hands an argument's undecodable bytes over as lone surrogates, which no UTF-8 file (the HTML) can hold;
    another lone surrogate becomes '?', as the tokenizer makes it."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that is not an escaped byte
        return text.encode("utf-8", "replace").decode("utf-8")


def _trace(args: argparse.Namespace):
    """Load the model (one line if its weight package is missing) and trace the text (--text -: stdin's)."""
    if args.text == "-":  # bytes, so that a pipe of another encoding cannot stop the read
        stdin = getattr(sys.stdin, "buffer", None)
        args.text = stdin.read().decode("utf-8", "replace") if stdin is not None else sys.stdin.read()
    args.text = _valid_text(args.text)  # as read: the title and the manifest show this text
    if not args.text.strip():
        raise UsageError("--text is empty: give the text to trace")
    from services import models

    model = models.load(args.model, args.device, dtype=args.dtype, served=False)  # its caller's own files
    for note in model.notes:  # how its file was read (the app's sidebar says the same), a rebuilt cache
        print(f"attention-viz: note: {note}", file=sys.stderr)
    try:
        second = None if args.second_text is None else _valid_text(args.second_text)
        trace = model.trace(args.text, causal=_causal(args.causal), max_tokens=args.max_tokens, second_text=second)
    except models.InputError as exc:  # the engine's word on the text or --max-tokens: a bad argument
        raise UsageError(str(exc)) from None
    if trace.truncated:  # the files hold only what was traced: say so where the user looks (stdout may be piped)
        print(f"attention-viz: note: {cut_note(trace)}", file=sys.stderr)
    return trace


def _formats(args: argparse.Namespace) -> list[tuple[Path, str]]:
    """(file, format) for each -o: --format when there is one file, else each file's suffix."""
    outs = [Path(o) for o in args.out]
    if args.format and len(outs) > 1:
        raise UsageError("--format takes one output file; with several -o, each file's suffix names its format")
    pairs = [(o, args.format or o.suffix.lstrip(".").lower()) for o in outs]
    for out, fmt in pairs:
        if fmt not in FORMATS:
            raise UsageError(f"{out}: unknown format {fmt!r}: use --format or a suffix among {', '.join(FORMATS)}")
        if fmt in TABLES and args.view not in PATTERN_VIEWS:  # it would hold the head's pattern, not this view
            raise UsageError(
                f"{out}: a .{fmt} holds one head's attention pattern (--layer, --head), not what --view {args.view} "
                f"shows: use --view head, or write this view as svg, png or html"
            )
    return pairs


def _export(args: argparse.Namespace) -> str:
    from attention_viz.export import pattern_bytes, view_bytes
    from attention_viz.views import build_view, check_args, check_head

    pairs = _formats(args)
    trace = _trace(args)
    try:
        if all(fmt in TABLES for _, fmt in pairs):  # one head's pattern: a text past the views' 256 tokens is fine
            check_head(trace, args.layer, args.head)
        else:
            check_args(trace, args.view, args.layer, args.head, args.orient)
    except ViewError as exc:
        raise UsageError(str(exc)) from None
    view = None
    files = []
    # the text as the app's labels show it: a right-to-left override or an ESC named, not written raw
    title = f"{view_title(trace.model_name, args.view, args.layer, args.head)} · {readable_text(args.text[:60])}"
    for out, fmt in pairs:
        if fmt in TABLES:
            data = pattern_bytes(trace, args.layer, args.head, fmt)  # the head's pattern (_formats: the view's own)
        else:
            try:
                view = view or build_view(trace, args.view, args.layer, args.head, args.orient)
                data = view_bytes(view, fmt, title, width=args.width)
            except (SvgError, ViewError) as exc:
                raise UsageError(f"--view {args.view}: {exc}") from None
        files.append((out, data))
    write_all(files)  # once every file could be made, and all of them or none
    return "\n".join(f"wrote {out} ({len(data):,} bytes)" for out, data in files)


def _trace_cmd(args: argparse.Namespace) -> str:
    from attention_viz.export import tensors_npz, tensors_parquet

    suffix = Path(args.out).suffix.lower()
    if suffix not in (".npz", ".parquet"):
        raise UsageError(f"--out must end in .npz or .parquet, not {suffix or 'nothing'!r}")
    trace = _trace(args)
    try:
        arrays = collect(trace, tensor_names(trace, args.tensors.split(",")))
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    data = tensors_npz(trace, arrays) if suffix == ".npz" else tensors_parquet(trace, arrays)
    write_all([(Path(args.out), data)])  # no half-written file where the disk fills
    return f"wrote {args.out}: {len(arrays)} tensors, {len(data):,} bytes"


def serve(port: int, address: str | None) -> int:
    """`streamlit run app.py` with make run's flags (headless, no file watcher, no usage statistics), in place of this
    process (exec): a stop signal (Ctrl-C, `docker stop`) reaches Streamlit itself and leaves no server behind."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_script()), "--server.port", str(port)]
    cmd += ["--server.headless", "true", "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    # .streamlit/config.toml's settings: Streamlit reads that file only from the folder it starts in (the repo root)
    cmd += ["--client.toolbarMode", "viewer", "--runner.postScriptGC", "false", "--runner.magicEnabled", "false"]
    if address:
        cmd += ["--server.address", address]
    os.execv(sys.executable, cmd)
    return 0  # not reached: exec replaced the process


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "app":
            return serve(args.port, args.address)
        print(_export(args) if args.command == "export" else _trace_cmd(args))
        return 0
    except UsageError as exc:
        print(f"attention-viz: error: {exc}", file=sys.stderr)
        return 2
    except (AttentionCoreError, ExportError, OSError) as exc:
        print(f"attention-viz: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
