"""Shared fixtures: a small model, a probe, and a monitor whose sent messages are captured."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402


class Sent:
    """Messages a monitor sent to its views: (content, buffers) pairs."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict[str, Any], list[bytes]]] = []

    def __call__(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        self.messages.append((content, list(buffers or [])))

    def of_type(self, kind: str) -> list[tuple[dict[str, Any], list[bytes]]]:
        return [m for m in self.messages if m[0].get("type") == kind]

    def frame_seqs(self) -> list[int]:
        return [s for c, _ in self.of_type("frames") for s in c["seqs"]]


@pytest.fixture
def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(8, 16),
            act1=nn.ReLU(),
            fc2=nn.Linear(16, 12),
            act2=nn.ReLU(),
            out=nn.Linear(12, 3),
        )
    )


@pytest.fixture
def probe() -> tuple[Any, Any]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(40, 8, generator=g), torch.randint(0, 3, (40,), generator=g)


@pytest.fixture(scope="module")
def one_torch_thread() -> Any:
    """One intra-op thread for a test module: on a small, shared CPU machine torch's spinning
    threads make tiny models' steps tens of times slower whenever another process competes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def sent() -> Sent:
    return Sent()


def capture(cam: Any, sent: Sent) -> Any:
    """Route ``cam``'s messages into ``sent``."""
    cam.send = sent
    return cam


TORCHRUN_TIMEOUT_S = 120  # a two-process job that has not finished by then hangs


def run_torchrun(
    script: Path,
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = TORCHRUN_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` on two processes with ``torchrun --standalone`` (a free port; one OpenMP
    thread each; no rank inherited from this process). Skips where torch has no gloo backend;
    fails the test when the job hangs or exits with an error, showing its output."""
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("this torch has no gloo backend")
    environ = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    environ.update({"OMP_NUM_THREADS": "1", **(env or {})})
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    try:
        done = subprocess.run(
            [*command, str(script), *map(str, args)],
            cwd=cwd,
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the job {script.name} {' '.join(args)} hung (> {timeout:g} s): {exc.stderr}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return done
