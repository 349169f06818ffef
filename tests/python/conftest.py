"""Shared fixtures: a small model, a probe, and a monitor whose sent messages are captured."""

from __future__ import annotations

from collections import OrderedDict
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


@pytest.fixture
def sent() -> Sent:
    return Sent()


def capture(cam: Any, sent: Sent) -> Any:
    """Route ``cam``'s messages into ``sent``."""
    cam.send = sent
    return cam
