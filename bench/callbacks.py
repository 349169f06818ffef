"""Per-step cost of the framework callbacks against the same loop with a hand-made monitor.

Two trainers, each training the same model on the same batches in every variant:

- Lightning: the digits MLP (64-64-32-10, batch 32; layers net.1 + net.3, probe 300) trained by
  ``lightning.Trainer``; its step is short (~1 ms), so any per-step cost of a callback shows;
- Hugging Face: a tiny BERT (2 layers, hidden 32, T=16, batch 16; layers
  ``bert.encoder.layer.0.output`` (N, T, D) + ``bert.pooler``, probe 128) trained by
  ``transformers.Trainer``.

Variants, every one at the same ``every``:

- ``none``: no monitoring (the baseline of the same run);
- ``manual``: a plain callback calling a hand-made ``Monitor(model, ...).step(step, ...)``
  (Lightning: ``step(trainer.global_step, loss=outputs["loss"])`` at ``on_train_batch_end``; HF:
  ``step(state.global_step, lr=...)`` at ``on_step_end``);
- ``callback``: ``sentrycam.integrations.*.SentrycamCallback``.

Rounds interleave the variants (order rotated each round). A round's ms/step is the wall time
from the end of the first optimizer step to the end of the last, over the steps between: every
capture in that span is counted (the callback's extra capture before the first step is not, and
neither is the final flush); the table gives its median over rounds, and the median of single
steps (the cost of a step that does not capture). A second table measures stop-on-alert: the
first layer's weights become NaN at a step, and the steps from the capture that saw it to the
step training stopped at, with the default background thread and with ``sync=True``.

Prints markdown tables; writes callbacks.md and callbacks.json to bench/results.
Usage: .venv/bin/python bench/callbacks.py [--quick] [--rounds N] [--threads N] [--out DIR]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reporting

ROOT = Path(__file__).resolve().parent.parent
EVERY = 50
STOP_EVERY = 10  # the stop-on-alert runs capture more often, so the delay is read in steps
NAN_AT = 25
VARIANTS = {
    "none": "no monitoring",
    "manual": "hand-made Monitor(...).step() in a plain callback",
    "callback": "SentrycamCallback",
}
PLANS = {
    "full": {"rounds": 9, "lightning": 600, "hf": 200},
    "quick": {"rounds": 2, "lightning": 150, "hf": 60},
}
METHOD = (
    "Medians over interleaved rounds (the order of the variants rotated each round), in one "
    "process with no view displayed (frames are encoded and kept; nothing is sent): the three "
    "variants differ only in who calls the monitor. ms/step: wall time from the end of the first "
    "optimizer step to the end of the last, per step, captures included (median over rounds). "
    "Overhead and callback vs hand-made are paired: per round, the ratio of ms/step to the "
    "`none` (or hand-made) row of the same round; the median of those ratios, and for the "
    "callback their range over rounds (the noise of this machine). Single-step median: the "
    "median duration of one step (a step without a capture)."
)


# ---- Lightning --------------------------------------------------------------------------------


def lightning_setup() -> dict[str, Any]:
    import lightning as L
    from sklearn.datasets import load_digits
    from torch import nn

    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target)

    class DigitsMLP(L.LightningModule):
        def __init__(self, nan_at: int | None = None) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.net = nn.Sequential(
                nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)
            )
            self.nan_at = nan_at

        def forward(self, x: Any) -> Any:
            return self.net(x)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if self.nan_at is not None and self.global_step == self.nan_at:
                with torch.no_grad():
                    self.net[0].weight.fill_(float("nan"))
            loss = nn.functional.cross_entropy(self(batch[0]), batch[1])
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.05)

    class Clock(L.Callback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_train_batch_end(self, *args: Any) -> None:
            self.times.append(time.perf_counter())

    class HandMade(L.Callback):
        def __init__(self, cam: Any) -> None:
            self.cam = cam

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, *a: Any) -> None:
            self.cam.step(trainer.global_step, loss=outputs["loss"])

    dataset = torch.utils.data.TensorDataset(x[:1500], y[:1500])
    return {
        "L": L,
        "Module": DigitsMLP,
        "Clock": Clock,
        "HandMade": HandMade,
        "probe": (x[1500:1800], y[1500:1800]),
        "layers": ["net.1", "net.3"],
        "loader": lambda: torch.utils.data.DataLoader(
            dataset, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0)
        ),
    }


def lightning_run(env: dict[str, Any], variant: str, steps: int, **cb_kwargs: Any) -> dict:
    from sentrycam.integrations.lightning import SentrycamCallback

    L = env["L"]
    module = env["Module"](cb_kwargs.pop("nan_at", None))
    clock = env["Clock"]()
    cam, feeder = monitoring(variant, module, env, SentrycamCallback, cb_kwargs)
    callbacks: list[Any] = [clock] + ([feeder] if feeder is not None else [])
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=steps,
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
    )
    trainer.fit(module, env["loader"]())
    result = _timing(clock.times, cam)
    if variant == "callback":
        result["stopped_at"] = trainer.global_step
        alert = feeder.stopped_by
        result["alert_step"] = None if alert is None else alert.step
    return result


def monitoring(
    variant: str, model: Any, env: dict[str, Any], callback: type, cb_kwargs: dict[str, Any]
) -> tuple[Any, Any]:
    """The monitor of ``variant`` and the trainer callback that feeds it: a hand-made
    ``Monitor`` stepped by a plain callback, sentrycam's ``callback``, or neither (``none``)."""
    from sentrycam import Monitor

    if variant == "manual":
        cam = Monitor(model, env["layers"], env["probe"], every=EVERY)
        return cam, env["HandMade"](cam)
    if variant == "callback":
        every = cb_kwargs.pop("every", EVERY)
        cb = callback(env["layers"], env["probe"], every=every, **cb_kwargs)
        return cb.monitor, cb
    return None, None


# ---- Hugging Face -----------------------------------------------------------------------------


def hf_setup() -> dict[str, Any]:
    import transformers

    vocab, tokens = 50, 16

    def make(n: int, seed: int) -> tuple[Any, Any, Any]:
        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(8, vocab, (n, tokens), generator=g)
        has = torch.rand(n, generator=g) < 0.5
        where = torch.randint(1, tokens, (n,), generator=g)
        ids[has, where[has]] = 7
        return ids, torch.ones(n, tokens, dtype=torch.long), has.long()

    class Tokens(torch.utils.data.Dataset):
        def __init__(self, n: int) -> None:
            self.ids, self.mask, self.labels = make(n, 0)

        def __len__(self) -> int:
            return len(self.labels)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {
                "input_ids": self.ids[i],
                "attention_mask": self.mask[i],
                "labels": self.labels[i],
            }

    def model() -> Any:
        torch.manual_seed(0)
        config = transformers.BertConfig(
            vocab_size=vocab,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=tokens,
        )
        return transformers.BertForSequenceClassification(config)

    class Clock(transformers.TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            self.times.append(time.perf_counter())

    class HandMade(transformers.TrainerCallback):
        def __init__(self, cam: Any) -> None:
            self.cam = cam

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.cam.step(state.global_step, lr=kwargs["optimizer"].param_groups[0]["lr"])

    class NaNAt(transformers.TrainerCallback):
        def __init__(self, step: int) -> None:
            self.step = step

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == self.step:
                with torch.no_grad():
                    kwargs["model"].bert.encoder.layer[0].output.dense.weight.fill_(float("nan"))

    ids, mask, labels = make(128, 99)
    return {
        "transformers": transformers,
        "model": model,
        "dataset": Tokens(4096),
        "Clock": Clock,
        "HandMade": HandMade,
        "NaNAt": NaNAt,
        "probe": ({"input_ids": ids, "attention_mask": mask}, labels),
        "layers": ["bert.encoder.layer.0.output", "bert.pooler"],
        "out": tempfile.mkdtemp(prefix="sentrycam-bench-"),
    }


def hf_run(env: dict[str, Any], variant: str, steps: int, **cb_kwargs: Any) -> dict:
    from sentrycam.integrations.transformers import SentrycamCallback

    transformers = env["transformers"]
    model = env["model"]()
    clock = env["Clock"]()
    callbacks: list[Any] = [clock]
    nan_at = cb_kwargs.pop("nan_at", None)
    if nan_at is not None:
        callbacks.insert(0, env["NaNAt"](nan_at))
    cam, feeder = monitoring(variant, model, env, SentrycamCallback, cb_kwargs)
    if feeder is not None:
        callbacks.append(feeder)
    args = transformers.TrainingArguments(
        output_dir=env["out"],
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        logging_steps=10,
        max_steps=steps,
        disable_tqdm=True,
        per_device_train_batch_size=16,
        learning_rate=1e-3,
        seed=0,
    )
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=env["dataset"], callbacks=callbacks
    )
    trainer.remove_callback(transformers.PrinterCallback)  # it prints every log to stdout
    trainer.train()
    result = _timing(clock.times, cam)
    if variant == "callback":
        result["stopped_at"] = trainer.state.global_step
        alert = feeder.stopped_by
        result["alert_step"] = None if alert is None else alert.step
    return result


# ---- measurement ------------------------------------------------------------------------------


def _timing(times: list[float], cam: Any) -> dict[str, Any]:
    spans = [b - a for a, b in itertools.pairwise(times)]
    out: dict[str, Any] = {
        "ms_per_step": 1000 * (times[-1] - times[0]) / max(len(spans), 1),
        "median_step_ms": 1000 * statistics.median(spans) if spans else None,
        "steps_timed": len(spans),
    }
    if cam is not None:
        cam.flush()
        stats = cam.stats
        out["captures"] = stats.get("captures")
        out["train_thread_ms"] = stats.get("train_thread_ms")
        cam.close()
    return out


def measure(name: str, run: Any, env: dict[str, Any], steps: int, rounds: int) -> dict:
    """Interleaved rounds of every variant; medians per variant."""
    order = list(VARIANTS)
    run(env, "none", min(steps, 30))  # warm-up: imports, allocator, first-call costs
    raw: dict[str, list[dict[str, Any]]] = {v: [] for v in order}
    for r in range(rounds):
        turn = order[r % len(order) :] + order[: r % len(order)]
        for variant in turn:
            raw[variant].append(run(env, variant, steps))
        print(f"  {name}: round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    rows = {}
    for variant, results in raw.items():
        captures = [x["captures"] for x in results if x.get("captures") is not None]
        tt = [x["train_thread_ms"] for x in results if x.get("train_thread_ms") is not None]
        vs_none = _paired(results, raw["none"])
        vs_manual = _paired(results, raw["manual"])
        rows[variant] = {
            "ms_per_step": statistics.median(x["ms_per_step"] for x in results),
            "median_step_ms": statistics.median(x["median_step_ms"] for x in results),
            "overhead_pct": 100 * (statistics.median(vs_none) - 1),
            "vs_manual": statistics.median(vs_manual),
            "vs_manual_range": [min(vs_manual), max(vs_manual)],
            "captures": statistics.median(captures) if captures else None,
            "train_thread_ms": statistics.median(tt) if tt else None,
        }
    return {"steps": steps, "rounds": rounds, "rows": rows, "raw": raw}


def _paired(results: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> list[float]:
    """Per round: ms/step over the baseline's ms/step in the same round."""
    return [x["ms_per_step"] / b["ms_per_step"] for x, b in zip(results, baseline, strict=True)]


def stop_delays(lightning_env: dict, hf_env: dict, repeats: int) -> dict[str, Any]:
    """Steps from the capture that saw the NaN to the step training stopped at."""
    out: dict[str, Any] = {}
    for name, run, env in (("lightning", lightning_run, lightning_env), ("hf", hf_run, hf_env)):
        for sync in (False, True):
            results = [
                run(
                    env,
                    "callback",
                    400,
                    nan_at=NAN_AT,
                    every=STOP_EVERY,
                    stop_on="critical",
                    sync=sync,
                )
                for _ in range(repeats)
            ]
            out[f"{name}/{'sync' if sync else 'default'}"] = [
                {"alert_step": r["alert_step"], "stopped_at": r["stopped_at"]} for r in results
            ]
    return out


# ---- report -----------------------------------------------------------------------------------

TITLES = {
    "lightning": "Lightning, digits MLP (64-64-32-10, batch 32), probe 300, layers net.1 + net.3",
    "hf": "HF Trainer, tiny BERT (2 × hidden 32, T=16, batch 16), probe 128, "
    "layers bert.encoder.layer.0.output (N, T, D) + bert.pooler",
}


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| trainer | monitoring | steps × rounds | ms/step | overhead vs none "
        "| callback vs hand-made | single-step median ms | captures "
        "| training-thread ms per capture |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, res in results.items():
        for variant, row in res["rows"].items():
            over = "—" if variant == "none" else f"{row['overhead_pct']:+.1f}%"
            low, high = row["vs_manual_range"]
            ratio = (
                f"{row['vs_manual']:.3f}× ({low:.2f}–{high:.2f})" if variant == "callback" else "—"
            )
            caps = "—" if row["captures"] is None else f"{row['captures']:.0f}"
            tt = "—" if row["train_thread_ms"] is None else f"{row['train_thread_ms']:.2f}"
            lines.append(
                f"| {name} | {VARIANTS[variant]} | {res['steps']} × {res['rounds']} "
                f"| {row['ms_per_step']:.3f} | {over} | {ratio} | {row['median_step_ms']:.3f} "
                f"| {caps} | {tt} |"
            )
    return lines


def stop_table(delays: dict[str, Any]) -> list[str]:
    lines = [
        "| trainer / mode | NaN injected at step | capture that saw it | stopped at step "
        "(each repeat) | steps after the capture |",
        "|---|---:|---:|---|---|",
    ]
    for key, runs in delays.items():
        alert = sorted({r["alert_step"] for r in runs}, key=lambda s: (s is None, s))
        stopped = [r["stopped_at"] for r in runs]
        after = [
            "—" if r["alert_step"] is None else str(r["stopped_at"] - r["alert_step"]) for r in runs
        ]
        lines.append(
            f"| {key} | {NAN_AT} | {', '.join(map(str, alert))} | {', '.join(map(str, stopped))} "
            f"| {', '.join(after)} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few steps and rounds: a smoke run")
    ap.add_argument("--rounds", type=int, default=None, help="override the rounds")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"), help="results folder")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: on a small shared machine, spinning threads "
        "make the timings depend on whatever else runs)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    plan = PLANS["quick" if args.quick else "full"]
    rounds = args.rounds or plan["rounds"]
    t0 = time.perf_counter()
    lightning_env, hf_env = lightning_setup(), hf_setup()
    _quiet()  # after the imports: lightning sets its loggers' levels when imported
    results = {
        "lightning": measure("lightning", lightning_run, lightning_env, plan["lightning"], rounds),
        "hf": measure("hf", hf_run, hf_env, plan["hf"], rounds),
    }
    delays = stop_delays(lightning_env, hf_env, repeats=2 if args.quick else 3)
    shutil.rmtree(hf_env["out"], ignore_errors=True)
    total = time.perf_counter() - t0
    machine = reporting.machine(torch.__version__, torch.get_num_threads())
    date = reporting.now()
    md = [
        "# Framework callbacks: per-step cost",
        "",
        f"{date} · {machine}{' · --quick' if args.quick else ''} · every={EVERY} · "
        f"total {total:.0f} s",
        "",
        METHOD,
        "",
        *(f"- {name}: {TITLES[name]}" for name in results),
        "",
        *table(results),
        "",
        "## Stop on alert",
        "",
        f'`stop_on="critical"`, `every={STOP_EVERY}`: the first layer\'s weights become NaN at '
        f"step {NAN_AT}; the capture at step {NAN_AT // STOP_EVERY * STOP_EVERY + STOP_EVERY} "
        "raises a critical alert. With the default background thread the alert reaches the "
        "training loop at a later step; with `sync=True` in the capturing step.",
        "",
        *stop_table(delays),
        "",
    ]
    text = "\n".join(md)
    payload = {
        "date": date,
        "machine": machine,
        "quick": args.quick,
        "every": EVERY,
        "total_s": total,
        "results": results,
        "stop_on_alert": {"nan_at": NAN_AT, "every": STOP_EVERY, "runs": delays},
    }
    reporting.write(args.out, "callbacks", text, payload)


def _quiet() -> None:
    """The trainers' banners and known warnings, and sentrycam's NaN warnings of the stop runs."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "transformers", "sentrycam"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*non-finite activation.*")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


if __name__ == "__main__":
    main()
