"""Build the atlas's default corpus, assets/corpus/default.jsonl (one JSON object per line: text, source).

Sources, all license-clean (assets/corpus/SOURCES.md names each licence):
- the King James Bible (public domain) from Debian's bible-kjv-text, read with the `bible` program of
  Debian's bible-kjv: narrative and wisdom chapters;
- Python's documentation topics (pydoc_data, PSF License Version 2): prose paragraphs, no grammar or code;
- WordNet 3.0 glosses with their example sentences (Debian's wordnet-base; WordNet 3.0 licence).

Run once by a maintainer, offline, with the two Debian packages unpacked into one folder:
    apt-get download bible-kjv bible-kjv-text wordnet-base
    for f in *.deb; do dpkg-deb -x "$f" debs; done
    python devtools/build_corpus.py debs
Deterministic: the same packages give the same file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "assets" / "corpus" / "default.jsonl"
DOC_CHARS = 1000  # about 250 SmolLM2 tokens: the CLI's default cap is 256
KJV_CHAPTERS = [
    ("Genesis", range(1, 26)), ("Exodus", range(1, 21)), ("Ruth", range(1, 5)), ("1Samuel", range(16, 19)),
    ("Esther", range(1, 11)), ("Jonah", range(1, 5)), ("Proverbs", range(1, 11)),
    ("Ecclesiastes", range(1, 13)), ("Matthew", range(5, 8)), ("Luke", range(1, 13)), ("Acts", range(1, 9)),
]  # fmt: skip


def _chunks(sentences: list[str], limit: int = DOC_CHARS) -> list[str]:
    """Join consecutive pieces into documents of at most about `limit` characters."""
    docs, cur = [], ""
    for s in sentences:
        if cur and len(cur) + 1 + len(s) > limit:
            docs.append(cur)
            cur = ""
        cur = f"{cur} {s}".strip()
    if cur:
        docs.append(cur)
    return docs


def kjv(debs: Path) -> list[str]:
    lib, program = debs / "usr" / "lib", debs / "usr" / "bin" / "bible"
    docs = []
    for book, chapters in KJV_CHAPTERS:
        for ch in chapters:
            out = subprocess.run(
                [str(program), "-p", str(lib), "-l100000", f"{book}{ch}:1-200"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            verses = [
                re.sub(r"^\s*\d+\s+", "", line).strip() for line in out.splitlines() if re.match(r"^\s*\d+ ", line)
            ]
            docs += _chunks(verses)
    return docs


def python_docs() -> list[str]:
    from pydoc_data import topics

    docs = []
    for name in sorted(topics.topics):
        paragraphs = re.split(r"\n\s*\n", topics.topics[name])
        prose = [
            " ".join(p.split())
            for p in paragraphs
            if p
            and not p.startswith((" ", "\t"))
            and not re.match(r"^[*=\-]{3,}", p.splitlines()[-1])
            and len(p.split()) >= 12
            and "::=" not in p
            and ">>>" not in p
        ]
        docs += _chunks(prose)
    return docs


def wordnet(debs: Path, every: int = 27) -> list[str]:
    lines = []
    for part in ("noun", "verb", "adj", "adv"):
        for raw in (debs / "usr" / "share" / "wordnet" / f"data.{part}").read_text(encoding="latin-1").splitlines():
            if raw.startswith("  ") or "|" not in raw or '"' not in raw:
                continue
            word = raw.split()[4].replace("_", " ")
            gloss = raw.split("|", 1)[1].strip()
            lines.append(f"{word}: {gloss}.")
    return _chunks(lines[::every])


def main(debs: Path) -> None:
    sources = {"kjv": kjv(debs), "python-docs": python_docs(), "wordnet": wordnet(debs)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        for source, docs in sources.items():
            for text in docs:
                f.write(json.dumps({"text": text, "source": source}, ensure_ascii=False) + "\n")
    sizes = {s: sum(len(d) for d in docs) for s, docs in sources.items()}
    print(f"{OUT}: {sum(len(d) for d in sources.values())} documents; characters per source {sizes}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
