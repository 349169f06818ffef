"""Library diagnostic benchmark: are the alert rules right on models we did not write?

Usage: ``.venv/bin/python bench/lib_diagnostic.py [--quick] [--jobs N] [--cache DIR]
[--families a,b] [--product DIR] [--out NAME]``. Trains what is not cached (``lib_runs``: library
models from torchvision, timm, transformers and ``torch.nn``, healthy or failing from a known onset,
a dev and a test seed; N processes, one torch thread each), then scores every cached run with the
product code: a fresh ``sentrycam.alerts.Auditor()`` per run and cadence (every=10, every=50),
fed in step order. Reports, per split, cadence and family: healthy runs with any warning (the
false alarms, with their messages), failures detected and their delay against the calibrated
val-loss rule of ``diag_detect``, whether the first alert names the failing layer, alerts per
incident, and leave-one-family-out settings. Writes bench/results/lib_diagnostic.{md,json}
(``--quick`` and ``--families`` only print, unless ``--out`` names the files).

``--product DIR``: import sentrycam from ``DIR`` (a ``python/`` folder, e.g. of ``git archive
HEAD``) instead of this checkout, to score the same runs with another version of the rules.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import subprocess
import sys
import time
import types
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))


def _use_product(src: str) -> None:
    """Import sentrycam from ``src`` (before anything else imports it)."""
    sys.path.insert(0, src)
    try:
        import sentrycam  # noqa: F401
    except Exception:
        for name in [m for m in sys.modules if m == "sentrycam" or m.startswith("sentrycam.")]:
            del sys.modules[name]
        pkg = types.ModuleType("sentrycam")
        pkg.__path__ = [str(Path(src) / "sentrycam")]
        sys.modules["sentrycam"] = pkg


if os.environ.get("SENTRYCAM_PRODUCT"):
    _use_product(os.environ["SENTRYCAM_PRODUCT"])

from lib_eval import evaluate  # noqa: E402
from lib_models import FAMILIES  # noqa: E402
from lib_report import report  # noqa: E402
from lib_runs import KINDS, SPLIT_SEEDS, STEPS, plan, train_job  # noqa: E402
from lib_score import replay, score_run  # noqa: E402

RESULTS = BENCH / "results"
QUICK_FAMILIES = ("resnet", "bert")
QUICK_KINDS = ("lr_spike", "dead_relu", "label_noise", "frozen")
#: Slowest families first, so that two processes finish together.
COST_ORDER = ("efficientnet", "mobilenet_v3", "gpt2", "resnet", "hf_vit", "bert", "timm_vit")


def _replay_task(task: tuple) -> tuple[str, list]:
    name, fed, m = task
    return name, replay(fed, m)


def _product_version(src: Path) -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], capture_output=True, text=True, cwd=BENCH).stdout

    if os.environ.get("SENTRYCAM_PRODUCT"):
        return f"sentrycam from `{os.environ['SENTRYCAM_PRODUCT']}`"
    head = git("rev-parse", "--short", "HEAD").strip()
    dirty = git("status", "--porcelain", "--", str(src)).strip()
    return f"this checkout at {head}" + (" with uncommitted changes in python/" if dirty else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two families, four kinds; print only")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/sentrycam-libcorpus"))
    ap.add_argument(
        "--families", default="", help="comma-separated subset of " + ",".join(FAMILIES)
    )
    ap.add_argument("--product", default="", help="import sentrycam from this python/ folder")
    ap.add_argument("--out", default="", help="write bench/results/<OUT>.{md,json}")
    ap.add_argument("--train-only", action="store_true", help="train what is missing; no scoring")
    args = ap.parse_args()
    if args.product:
        os.environ["SENTRYCAM_PRODUCT"] = str(Path(args.product).resolve())
        cmd = [sys.executable, *sys.argv]
        i = cmd.index("--product")
        del cmd[i : i + 2]
        sys.exit(subprocess.call(cmd))  # a fresh interpreter: sentrycam is imported already
    t0 = time.perf_counter()
    families = [f for f in args.families.split(",") if f] or list(
        QUICK_FAMILIES if args.quick else FAMILIES
    )
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        ap.error(f"unknown families {unknown}; known: {list(FAMILIES)}")
    kinds = QUICK_KINDS if args.quick else KINDS
    runs = [r for s in ("dev", "test") for r in plan(s, families, kinds)]
    groups: dict = {}
    for r in runs:
        groups.setdefault((r.family, r.split, r.seed), []).append(r)
    cost = {f: i for i, f in enumerate(COST_ORDER)}
    todo = [g for g in groups.values() if not all(r.path(args.cache).exists() for r in g)]
    jobs = sorted(todo, key=lambda g: cost.get(g[0].family, len(cost)))
    ctx = mp.get_context("spawn")
    trained: list[dict] = []
    with ctx.Pool(args.jobs, maxtasksperchild=1) as pool:
        for done in pool.imap_unordered(train_job, [(g, args.cache) for g in jobs]):
            trained += done
            if done and "error" not in done[0]:
                print(f"trained {done[0]['name']} (+{len(done) - 1}), {len(trained)} runs, "
                      f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
    t_train = time.perf_counter() - t0
    if args.train_only:
        print(f"{len(trained)} runs trained in {t_train:.0f} s")
        return
    errors = [d for d in trained if "error" in d]
    for d in errors:
        print(f"training {d['name']} failed:\n{d['error']}", file=sys.stderr)
    missing = [r.name for r in runs if not r.path(args.cache).exists()]
    runs = [r for r in runs if r.path(args.cache).exists()]
    with ctx.Pool(args.jobs) as pool:
        scored = list(pool.imap(score_run, [r.path(args.cache) for r in runs], chunksize=1))

        def replay_many(rs: list[dict], every: int, m: float) -> dict:
            tasks = [(r["name"], r["cadences"][every]["fed"], m) for r in rs]
            return dict(pool.imap(_replay_task, tasks, chunksize=2))

        t_score0 = time.perf_counter()
        ev = evaluate(scored, replay_many)
    t_all = time.perf_counter() - t0
    ms = {}
    for f in families:
        xs = [r["train_ms_per_step"] for r in scored if r["family"] == f and r["onset"] is None]
        ms[f] = sum(xs) / len(xs) if xs else math.nan
    cmd = " ".join([".venv/bin/python bench/lib_diagnostic.py", *sys.argv[1:]])
    if os.environ.get("SENTRYCAM_PRODUCT"):
        cmd += f" --product {os.environ['SENTRYCAM_PRODUCT']}"
    meta = {
        "command": cmd,
        "product": _product_version(BENCH.parent / "python"),
        "wall_s": t_all,
        "train_s": t_train,
        "score_s": t_all - t_train,
        "evaluate_s": time.perf_counter() - t_score0,
        "trained": len(trained) - len(errors),
        "train_cpu_s": sum(r["seconds"] or 0.0 for r in scored),
        "missing": missing,
        "jobs": args.jobs,
        "n_runs": len(runs),
        "n_healthy": sum(r.onset is None for r in runs),
        "steps": STEPS,
        "seeds": SPLIT_SEEDS,
        "kinds": list(kinds),
        "families": families,
        "ms_per_step": ms,
        "train_seconds": {d["name"]: d["seconds"] for d in trained},
    }
    text = report(ev, scored, meta)
    print(text)
    print(f"wall time {t_all:.0f} s (training {t_train:.0f} s, scoring {t_all - t_train:.0f} s)")
    if not args.out and (args.quick or args.families):
        return
    name = args.out or "lib_diagnostic"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text)
    payload = {"meta": meta, "evaluation": ev, "runs": [_slim(r) for r in scored]}
    (RESULTS / f"{name}.json").write_text(json.dumps(_clean(payload)))


def _slim(r: dict) -> dict:
    """A scored run for the JSON: its curves, alerts and problems, not its metric streams."""
    out = {k: v for k, v in r.items() if k != "cadences"}
    out["cadences"] = {
        e: {k: v for k, v in c.items() if k != "fed"} for e, c in r["cadences"].items()
    }
    return out


def _clean(o):
    """Strict JSON: non-finite floats become strings."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o):
        return "nan" if math.isnan(o) else ("inf" if o > 0 else "-inf")
    return o


if __name__ == "__main__":
    main()
