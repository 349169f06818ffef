"""The forgetting alert on split digits: dev seeds (where its settings were chosen) and test
seeds (untouched), three optimisers, each run without rehearsal (it should alert), with
rehearsal (it should not) and without task boundaries (it must not).

Run: .venv/bin/python bench/forgetting.py [--quick]. Prints a table and writes
bench/results/forgetting.{md,json}.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))  # the split-digits run the tests use

import reporting  # noqa: E402
from jobs.split_digits import split_digits_run  # noqa: E402

from sentrycam import SentrycamWarning  # noqa: E402

DEV_SEEDS = (0, 1, 2, 3)  # the forgetting rule's settings were chosen on these
TEST_SEEDS = (4, 5, 6, 7)  # and reported on these, untouched
OPTIMISERS = {
    "SGD lr 0.05, momentum 0.9": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    "SGD lr 0.01, momentum 0.9": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
    "Adam lr 1e-3": lambda p: torch.optim.Adam(p, lr=1e-3),
}
SETTINGS = {
    "no rehearsal": {},
    "rehearsal": {"rehearsal": True},
    "no tasks marked": {"mark_tasks": False},
}


def one_run(seed: int, optimiser: str, setting: str) -> dict[str, Any]:
    """One run: its forgetting alerts, and the steps from the boundary to the first of them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SentrycamWarning)
        cam = split_digits_run(seed=seed, optimizer=OPTIMISERS[optimiser], **SETTINGS[setting])
    alerts = [a for a in cam.alerts if a.metric.startswith("forgetting")]
    boundary = cam.tasks[1]["step"] if len(cam.tasks) > 1 else None
    first = min((a.step for a in alerts), default=None)
    return {
        "seed": seed,
        "optimiser": optimiser,
        "setting": setting,
        "alerts": [a.metric for a in alerts],
        "delay": None if first is None or boundary is None else first - boundary,
        "old_accuracy_end": cam.frames[-1].metrics.get("accuracy@0-4"),
    }


def summary(runs: list[dict[str, Any]], setting: str, seeds: tuple[int, ...]) -> str:
    """ "alerted/runs (delays)" for one setting on one set of seeds."""
    mine = [r for r in runs if r["setting"] == setting and r["seed"] in seeds]
    hit = [r for r in mine if r["alerts"]]
    delays = [r["delay"] for r in hit if r["delay"] is not None]
    if not delays:
        return f"{len(hit)}/{len(mine)}"
    span = f"after {min(delays)}–{max(delays)} steps, median {statistics.median(delays):g}"
    return f"{len(hit)}/{len(mine)} ({span})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one dev and one test seed: a smoke run")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"), help="results folder")
    args = ap.parse_args()
    torch.set_num_threads(1)
    dev, test = (DEV_SEEDS[:1], TEST_SEEDS[:1]) if args.quick else (DEV_SEEDS, TEST_SEEDS)
    t0 = time.perf_counter()
    runs = [
        one_run(seed, optimiser, setting)
        for seed in (*dev, *test)
        for optimiser in OPTIMISERS
        for setting in SETTINGS
    ]
    total = time.perf_counter() - t0
    machine = reporting.machine(torch.__version__, torch.get_num_threads())
    md = [
        "# The forgetting alert on split digits",
        "",
        f"{reporting.now()} · {machine} · {total:.0f} s" + (" · --quick" if args.quick else ""),
        "",
        "An MLP trained 250 steps on digits 0-4, then 250 on 5-9; a probe of 300 held-out",
        "digits grouped by task; every=10. Cells: runs that raised a forgetting alert, of all",
        f"runs over the {len(OPTIMISERS)} optimisers, and the steps from the second task boundary",
        "to the first forgetting alert.",
        "",
        f"| setting | dev seeds {list(dev)} | test seeds {list(test)} | should alert |",
        "|---|---|---|---|",
        *(
            f"| {setting} | {summary(runs, setting, dev)} | {summary(runs, setting, test)} | "
            f"{'yes' if setting == 'no rehearsal' else 'no'} |"
            for setting in SETTINGS
        ),
        "",
    ]
    payload = {"quick": args.quick, "machine": machine, "total_s": total, "runs": runs}
    reporting.write(args.out, "forgetting", "\n".join(md), payload)


if __name__ == "__main__":
    main()
