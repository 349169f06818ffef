"""Kernel side of bench/overhead.py: the models, the training loop and the monitored variants.

Imported inside a real IPython kernel (started by bench/overhead.py with jupyter_client), so
sentrycam's frames really leave through the comm/IOPub path. ``run(config)`` trains one model in
interleaved rounds of every variant and returns the raw measurements; the driver takes medians.
"""

from __future__ import annotations

import gc
import os
import shutil
import statistics
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

EVERY = 10  # capture cadence of every monitored variant (log_freq for wandb)
BUDGET = 0.05
PROBE_REPS = 3  # probe forward passes timed per round
# The old behaviour, for a like-for-like byte count: every value of every output, no width cap.
FLATTEN_UNBOUNDED = {"pool": "flatten", "max_dim": 1 << 30, "max_frame_bytes": 1 << 40}


@dataclass
class Setup:
    """One benchmark model: how to build it, its data, its probe and the layers watched."""

    make_model: Callable[[], nn.Module]
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer]
    x: torch.Tensor
    y: torch.Tensor
    batch: int
    probe: tuple[torch.Tensor, torch.Tensor]
    layers: list[str]


# ---- models -------------------------------------------------------------------------------------


def _sgd(lr: float) -> Callable[[nn.Module], torch.optim.Optimizer]:
    return lambda model: torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def mlp_setup() -> Setup:
    """The quick-start model: 64-128-64-10 on scikit-learn's digits, probe of 500 digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)

    def make() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(
            OrderedDict(
                fc1=nn.Linear(64, 128),
                act1=nn.ReLU(),
                fc2=nn.Linear(128, 64),
                act2=nn.ReLU(),
                out=nn.Linear(64, 10),
            )
        )

    return Setup(make, _sgd(0.1), x, y, 64, (x[:500], y[:500]), ["act1", "act2"])


def cnn_setup() -> Setup:
    """Two conv blocks on generated 3x32x32 images with a planted class pattern; probe of 512."""
    g = torch.Generator().manual_seed(0)
    n = 4096 + 512
    y = torch.randint(0, 10, (n,), generator=g)
    templates = torch.randn(10, 3, 32, 32, generator=g)
    x = torch.randn(n, 3, 32, 32, generator=g) + 0.5 * templates[y]

    def make() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(3, 32, 3, padding=1),
                bn1=nn.BatchNorm2d(32),
                relu1=nn.ReLU(),
                pool1=nn.MaxPool2d(2),
                conv2=nn.Conv2d(32, 64, 3, padding=1),
                bn2=nn.BatchNorm2d(64),
                relu2=nn.ReLU(),
                pool2=nn.MaxPool2d(2),
                flat=nn.Flatten(),
                fc=nn.Linear(64 * 8 * 8, 10),
            )
        )

    return Setup(
        make, _sgd(0.05), x[:4096], y[:4096], 128, (x[4096:], y[4096:]), ["relu1", "relu2"]
    )


class TinyTransformer(nn.Module):
    """Token + learned position embeddings, encoder blocks, mean over tokens, linear head."""

    def __init__(self, vocab: int = 64, tokens: int = 64, d: int = 128, depth: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(tokens, d) * 0.02)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(d, 4, 512, batch_first=True) for _ in range(depth)
        )
        self.head = nn.Linear(d, 10)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens) + self.pos
        for block in self.blocks:
            h = block(h)
        return self.head(h.mean(dim=1))


def transformer_setup() -> Setup:
    """Sequences of 64 tokens (vocabulary 64) where a quarter come from a class's band of tokens."""
    g = torch.Generator().manual_seed(0)
    n, t = 4096 + 512, 64
    y = torch.randint(0, 10, (n,), generator=g)
    tokens = torch.randint(0, 64, (n, t), generator=g)
    band = 6 * y[:, None] + torch.randint(0, 6, (n, t), generator=g)
    tokens = torch.where(torch.rand(n, t, generator=g) < 0.25, band, tokens)

    def make() -> nn.Module:
        torch.manual_seed(0)
        return TinyTransformer()

    def adamw(model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.AdamW(model.parameters(), lr=1e-3)

    probe = (tokens[4096:], y[4096:])
    return Setup(make, adamw, tokens[:4096], y[:4096], 32, probe, ["blocks.0", "blocks.1"])


SETUPS = {"mlp": mlp_setup, "cnn": cnn_setup, "transformer": transformer_setup}


# ---- the training loop and the variants ---------------------------------------------------------


def train(setup: Setup, model: nn.Module, steps: int, after: Callable[[int, Any], Any]) -> float:
    """``steps`` training steps on the same batches every time; ``after(step, loss)`` ends each
    step. Returns the wall seconds of the loop."""
    opt = setup.make_optimizer(model)
    g = torch.Generator().manual_seed(1)
    model.train()
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, len(setup.x), (setup.batch,), generator=g)
        loss = nn.functional.cross_entropy(model(setup.x[idx]), setup.y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        after(step, loss)
    return time.perf_counter() - t0


def no_monitoring(setup: Setup, steps: int) -> dict[str, Any]:
    seconds = train(setup, setup.make_model(), steps, lambda step, loss: loss.item())
    return {"ms_per_step": seconds / steps * 1e3}


def sentrycam_variant(**kwargs: Any) -> Callable[[Setup, int], dict[str, Any]]:
    def variant(setup: Setup, steps: int) -> dict[str, Any]:
        import ipywidgets

        import sentrycam

        model = setup.make_model()
        cam = sentrycam.Monitor(model, setup.layers, setup.probe, EVERY, **kwargs)
        seconds = train(setup, model, steps, lambda step, loss: cam.step(step, loss=loss.item()))
        t0 = time.perf_counter()
        cam.flush()  # what the background thread still holds counts as training time
        seconds += time.perf_counter() - t0
        stats, problems = cam.stats, cam.problems
        captured_at = sorted({frame.step for frame in cam.frames})  # how the cadence settled
        cam.close()
        ipywidgets.Widget.close(cam)  # drop the widget (and its frame history) from the registry
        return {
            "ms_per_step": seconds / steps * 1e3,
            "train_thread_ms": stats["train_thread_ms"],
            "bytes_per_frame": stats["bytes_per_capture"] / len(setup.layers),
            "bytes_per_capture": stats["bytes_per_capture"],
            "captures": stats["captures"],
            "effective_every": stats["effective_every"],
            "waited_ms": stats["waited_ms"],
            "worker_ms": stats["worker_ms"],
            "capture_steps": captured_at,
            "problems": problems[:5],
        }

    return variant


def wandb_watch(setup: Setup, steps: int) -> dict[str, Any]:
    """``wandb.watch(model, log="all", log_freq=10)`` in offline mode, ``wandb.log`` each step."""
    import wandb

    model = setup.make_model()
    logdir = tempfile.mkdtemp(prefix="sentrycam-bench-wandb-")
    try:
        run = wandb.init(project="sentrycam-overhead-bench", dir=logdir)
        wandb.watch(model, log="all", log_freq=EVERY)
        seconds = train(setup, model, steps, lambda step, loss: wandb.log({"loss": loss.item()}))
        wandb.unwatch(model)
        t0 = time.perf_counter()
        run.finish()  # not training time: the run is closed and its file completed
        finish_s = time.perf_counter() - t0
        written = _bytes_under(logdir)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    return {
        "ms_per_step": seconds / steps * 1e3,
        "finish_ms": finish_s * 1e3,
        "bytes_written": written,
        "captures": -(-steps // EVERY),
    }


def tensorboard_embedding(setup: Setup, steps: int) -> dict[str, Any]:
    """Every 10 steps: the probe through the model (eval, no_grad) with forward hooks on the same
    layers, then ``SummaryWriter.add_embedding`` of each layer's output flattened per sample."""
    from torch.utils.tensorboard import SummaryWriter

    model = setup.make_model()
    x, y = setup.probe
    labels = y.tolist()
    logdir = tempfile.mkdtemp(prefix="sentrycam-bench-tb-")
    writer = SummaryWriter(logdir)
    capture_s: list[float] = []

    def after(step: int, loss: Any) -> None:
        loss.item()
        if step % EVERY:
            return
        t0 = time.perf_counter()
        for name, acts in probe_outputs(model, setup.layers, x).items():
            writer.add_embedding(acts.flatten(1), metadata=labels, global_step=step, tag=name)
        capture_s.append(time.perf_counter() - t0)

    try:
        seconds = train(setup, model, steps, after)
        t0 = time.perf_counter()
        writer.flush()
        seconds += time.perf_counter() - t0
        writer.close()
        written = _bytes_under(logdir)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    return {
        "ms_per_step": seconds / steps * 1e3,
        "train_thread_ms": statistics.median(capture_s) * 1e3,
        "bytes_per_frame": written / len(capture_s) / len(setup.layers),
        "bytes_per_capture": written / len(capture_s),
        "captures": len(capture_s),
        "effective_every": EVERY,
    }


VARIANTS: dict[str, Callable[[Setup, int], dict[str, Any]]] = {
    "none": no_monitoring,
    "none_long": no_monitoring,  # as many steps as the budget rows: their baseline
    "sync": sentrycam_variant(sync=True),
    "default": sentrycam_variant(),
    "budget": sentrycam_variant(budget=BUDGET),
    "flatten": sentrycam_variant(sync=True, **FLATTEN_UNBOUNDED),
    "wandb": wandb_watch,
    "tensorboard": tensorboard_embedding,
}


# ---- helpers ------------------------------------------------------------------------------------


def probe_outputs(model: nn.Module, layers: list[str], x: torch.Tensor) -> dict[str, Any]:
    """The named modules' outputs for one probe pass in eval mode without gradients."""
    modules = dict(model.named_modules())
    outputs: dict[str, Any] = {}

    def keep(name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            outputs[name] = output[0] if isinstance(output, tuple | list) else output

        return hook

    handles = [modules[name].register_forward_hook(keep(name)) for name in layers]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return outputs


def probe_forward_ms(setup: Setup, reps: int = PROBE_REPS) -> float:
    """Median time of ``model(probe_x)`` in eval mode without gradients (no hooks, one pass)."""
    model = setup.make_model().eval()
    x = setup.probe[0]
    times = []
    with torch.no_grad():
        model(x)
        for _ in range(reps):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _bytes_under(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _warm_up(setup: Setup, variants: list[str]) -> None:
    """Imports, first allocations and first captures happen here, not in the first round."""
    no_monitoring(setup, 20)
    if {"sync", "default", "budget", "flatten"} & set(variants):
        sentrycam_variant(sync=True)(setup, 2 * EVERY)
    if "tensorboard" in variants:
        import torch.utils.tensorboard  # noqa: F401
    if "wandb" in variants:
        import wandb  # noqa: F401


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Interleaved rounds of every variant (``config["steps"]``: {variant: steps}) on one model.

    Each round times the probe pass, then runs every variant on a fresh model, the order rotated
    from round to round so no variant always follows the same one.
    """
    os.environ["WANDB_MODE"] = "offline"  # never upload
    os.environ.setdefault("WANDB_SILENT", "true")
    setup = SETUPS[config["model"]]()
    steps: dict[str, int] = config["steps"]
    names = list(steps)
    _warm_up(setup, names)
    shapes = {
        k: list(v.shape)
        for k, v in probe_outputs(setup.make_model(), setup.layers, setup.probe[0]).items()
    }
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    probe_ms: list[float] = []
    for r in range(config["rounds"]):
        probe_ms.append(probe_forward_ms(setup))
        for name in names[r % len(names) :] + names[: r % len(names)]:
            rounds[name].append(VARIANTS[name](setup, steps[name]))
            gc.collect()
            print(f"PROGRESS {config['model']} round {r + 1}: {name} done", flush=True)
    return {
        "model": config["model"],
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "layers": setup.layers,
        "probe_n": int(setup.probe[0].shape[0]),
        "layer_shapes": shapes,
        "probe_forward_ms": probe_ms,
        "rounds": rounds,
    }


def fresh_budget(config: dict[str, Any]) -> dict[str, Any]:
    """``budget=0.05`` first thing in a fresh kernel (no warm-up: the first capture pays the
    one-time costs), then the same run again in the now warmed process: their captures."""
    setup = SETUPS[config["model"]]()
    fresh = sentrycam_variant(budget=BUDGET)(setup, config["fresh_steps"])
    warmed = sentrycam_variant(budget=BUDGET)(setup, config["fresh_steps"])
    return {
        "model": config["model"],
        "steps": config["fresh_steps"],
        "fresh": fresh,
        "warmed": warmed,
    }
