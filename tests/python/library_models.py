"""torchvision and timm for tests: imported from ``.venv/library-models`` (``scripts/setup.sh``).

PyPI's torchvision for the CPU torch wheel is a CUDA build: its import fails while registering fake
implementations of its detection ops (see /work/shared/environment.md), so that registration is
skipped for ``torchvision::`` ops during the import. Tests only: sentrycam itself never imports
torchvision nor patches torch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import torch.library as _tl

LIBS = Path(__file__).resolve().parents[2] / ".venv" / "library-models"


def torchvision() -> ModuleType:
    """The ``torchvision`` module (imported once)."""
    if str(LIBS) not in sys.path:
        sys.path.append(str(LIBS))  # after the environment: an installed torchvision wins
    register_fake = _tl.register_fake
    _tl.register_fake = lambda op, *a, **k: (
        (lambda f: f) if str(op).startswith("torchvision::") else register_fake(op, *a, **k)
    )
    try:
        import torchvision as tv
    finally:
        _tl.register_fake = register_fake
    return tv
