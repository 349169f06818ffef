"""What the benchmarks share when they report: the machine they ran on, and writing the table
(markdown, printed too) and its JSON under bench/results/."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(torch_version: str, torch_threads: int) -> str:
    """One line: cores, CPU model, torch and its threads, Python."""
    return (
        f"{os.cpu_count()} × {cpu_model()} · torch {torch_version}, "
        f"{torch_threads} threads · Python {platform.python_version()}"
    )


def now() -> str:
    """The time of the run, UTC, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write(out: str | Path, name: str, text: str, payload: dict[str, Any]) -> None:
    """Print ``text`` and write it to ``out/name.md``, ``payload`` to ``out/name.json``."""
    print(text)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(text)
    (folder / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {folder / (name + '.md')} and {name}.json", file=sys.stderr)
