"""SentrycamCallback in a real lightning.Trainer: an MLP trained on scikit-learn's digits."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning")
datasets = pytest.importorskip("sklearn.datasets")

from conftest import run_torchrun  # noqa: E402
from torch import nn  # noqa: E402

import sentrycam  # noqa: E402
from sentrycam import Monitor, SentrycamWarning  # noqa: E402
from sentrycam.integrations.lightning import SentrycamCallback  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*isinstance\\(treespec, LeafSpec\\).*"),
    pytest.mark.filterwarnings("ignore:.*GPU available but not used.*"),
]
LR = 0.05


WARMUP = 8  # steps of linear learning-rate warm-up


@pytest.fixture(scope="module")
def digits() -> tuple[Any, Any]:
    data = datasets.load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    return x, torch.tensor(data.target)


class DigitsMLP(L.LightningModule):
    """64-32-16-10 MLP; ``nan_at``: the step at which its first layer's weights become NaN."""

    def __init__(self, nan_at: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(
            nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10)
        )
        self.nan_at = nan_at

    def forward(self, x: Any) -> Any:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        if self.nan_at is not None and self.global_step == self.nan_at:
            with torch.no_grad():
                self.net[0].weight.fill_(float("nan"))
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(self.parameters(), lr=LR)
        warmup = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / WARMUP))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": warmup, "interval": "step"}}


class Spy(L.Callback):
    """What the trainer saw at the end of each optimizer step: loss and learning rate."""

    def __init__(self) -> None:
        self.loss: dict[int, float] = {}
        self.lr: dict[int, float] = {}

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, *args: Any) -> None:
        self.loss[trainer.global_step] = float(outputs["loss"])
        self.lr[trainer.global_step] = trainer.optimizers[0].param_groups[0]["lr"]


def loader(digits: tuple[Any, Any], batch_size: int = 32) -> Any:
    x, y = digits
    dataset = torch.utils.data.TensorDataset(x[:1500], y[:1500])
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)


def probe(digits: tuple[Any, Any]) -> tuple[Any, Any]:
    x, y = digits
    return x[1500:1700], y[1500:1700]


def trainer(callbacks: list[Any], max_steps: int, **kwargs: Any) -> Any:
    return L.Trainer(
        accelerator="cpu",
        max_steps=max_steps,
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        **kwargs,
    )


def steps_of(cam: Monitor, layer: str) -> list[int]:
    return [f.step for f in cam.frames if f.layer == layer]


def test_frames_at_every_steps_carry_loss_and_lr(digits: tuple[Any, Any]) -> None:
    torch.manual_seed(0)
    cb = SentrycamCallback(layers=["net.1", "net.3"], probe=probe(digits), every=10)
    spy = Spy()
    t = trainer([spy, cb], max_steps=45)
    t.fit(DigitsMLP(), loader(digits))
    assert t.global_step == 45
    cam = cb.monitor
    for layer in ("net.1", "net.3"):
        assert steps_of(cam, layer) == [0, 10, 20, 30, 40]
    assert {f.x.shape for f in cam.frames if f.layer == "net.1"} == {(200, 32)}
    assert {f.x.shape for f in cam.frames if f.layer == "net.3"} == {(200, 16)}
    by_step = {f.step: f.scalars for f in cam.frames if f.layer == "net.1"}
    own = {k: v for k, v in by_step[0].items() if not k.startswith("logit_")}  # the output's
    assert own == {"lr": pytest.approx(LR / WARMUP)}  # before the first step: lr only
    for step in (10, 20, 30, 40):
        scalars = by_step[step]
        # the loss of the very step captured (not a stale one), as logged and as returned
        assert scalars["loss"] == pytest.approx(spy.loss[step])
        assert scalars["train_loss"] == pytest.approx(spy.loss[step])
        assert scalars["lr"] == pytest.approx(spy.lr[step])
    assert by_step[10]["lr"] == pytest.approx(LR)  # the warm-up is over by step 10
    assert spy.lr[3] < LR  # ... and was not before
    assert cam.stats["captures"] == 5
    assert cb.stopped_by is None


def test_gradient_accumulation_captures_once_per_optimizer_step(digits: tuple[Any, Any]) -> None:
    cb = SentrycamCallback(layers="net.1", probe=probe(digits), every=5)
    t = trainer([cb], max_steps=20, accumulate_grad_batches=3)
    t.fit(DigitsMLP(), loader(digits, batch_size=16))
    assert t.global_step == 20
    assert steps_of(cb.monitor, "net.1") == [0, 5, 10, 15, 20]


@pytest.mark.filterwarnings("ignore::sentrycam.SentrycamWarning")
@pytest.mark.parametrize("sync", [True, False])
def test_stop_on_critical_stops_training_at_the_nan(digits: tuple[Any, Any], sync: bool) -> None:
    cb = SentrycamCallback(
        layers=["net.1"], probe=probe(digits), every=10, stop_on="critical", sync=sync
    )
    t = trainer([cb], max_steps=500)
    t.fit(DigitsMLP(nan_at=25), loader(digits))
    # The capture at step 30 sees the NaN. With sync=True its alert is raised inside that step;
    # from the background thread it reaches the loop at a later step, how much later depending on
    # how busy the machine is (42 on a loaded 2-core machine): it stops, long before 500.
    assert 30 <= t.global_step <= (31 if sync else 250), t.global_step
    alert = cb.stopped_by
    assert alert is not None and alert.severity == "critical" and alert.step == 30
    assert steps_of(cb.monitor, "net.1")[-1] == 30
    assert any(a.metric == "nonfinite_frac" and a.layer == "net.1" for a in cb.monitor.alerts)


def test_without_stop_on_training_runs_to_the_end(digits: tuple[Any, Any]) -> None:
    cb = SentrycamCallback(layers=["net.1"], probe=probe(digits), every=10)
    t = trainer([cb], max_steps=80)
    with pytest.warns(SentrycamWarning, match="non-finite"):
        t.fit(DigitsMLP(nan_at=25), loader(digits))
    assert t.global_step == 80
    assert cb.stopped_by is None
    assert any(a.severity == "critical" and a.step == 30 for a in cb.monitor.alerts)
    assert steps_of(cb.monitor, "net.1") == list(range(0, 81, 10))


def test_stop_on_does_not_stop_a_healthy_run(digits: tuple[Any, Any]) -> None:
    cb = SentrycamCallback(
        layers=["net.1", "net.3"], probe=probe(digits), every=10, stop_on="warning"
    )
    t = trainer([cb], max_steps=100)
    t.fit(DigitsMLP(), loader(digits))
    assert t.global_step == 100
    assert cb.stopped_by is None
    assert not [a for a in cb.monitor.alerts if a.severity in ("warning", "critical")]


def test_monitor_is_displayable_before_fit_and_records(
    digits: tuple[Any, Any], tmp_path: Path
) -> None:
    path = tmp_path / "run.arrows"
    cb = SentrycamCallback(layers=["net.1"], probe=probe(digits), every=10, record=path)
    cam = cb.monitor
    assert isinstance(cam, Monitor) and cb.monitor is cam
    assert "application/vnd.jupyter.widget-view+json" in cam._repr_mimebundle_()[0]
    assert cam.frames == []
    trainer([cb], max_steps=30).fit(DigitsMLP(), loader(digits))
    assert cb.monitor is cam
    recorded = sentrycam.read_recording(path)  # complete after fit, before close
    assert [f.step for f in recorded] == [0, 10, 20, 30]
    assert recorded[-1].scalars["loss"] == pytest.approx(cam.frames[-1].scalars["loss"])
    cam.close()
    assert [f.step for f in sentrycam.read_recording(path)] == [0, 10, 20, 30]


def test_a_closed_monitor_refuses_another_fit(digits: tuple[Any, Any]) -> None:
    cb = SentrycamCallback(layers=["net.1"], probe=probe(digits), every=10)
    module = DigitsMLP()
    trainer([cb], max_steps=10).fit(module, loader(digits))
    cb.monitor.close()
    t = trainer([cb], max_steps=10)
    with pytest.raises(RuntimeError, match="monitor was closed"):
        t.fit(module, loader(digits))
    assert t.global_step == 0
    assert steps_of(cb.monitor, "net.1") == [0, 10]


def test_model_argument_watches_a_submodule(digits: tuple[Any, Any]) -> None:
    module = DigitsMLP()
    with pytest.raises(ValueError, match=r"unknown layer.*'net\.1'"):
        SentrycamCallback(layers=["net.1"], probe=probe(digits), model=module.net)
    cb = SentrycamCallback(layers=["1"], probe=probe(digits), every=10, model=module.net)
    trainer([cb], max_steps=20).fit(module, loader(digits))
    assert steps_of(cb.monitor, "1") == [0, 10, 20]


def test_unknown_layer_fails_fit_before_training(digits: tuple[Any, Any]) -> None:
    cb = SentrycamCallback(layers=["net.1", "net.9"], probe=probe(digits), every=10)
    t = trainer([cb], max_steps=20)
    with pytest.raises(ValueError, match=r"unknown layer.*'net\.9'.*top-level stages"):
        t.fit(DigitsMLP(), loader(digits))
    assert t.global_step == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stop_on": "fatal"}, "stop_on must be None, 'warning' or 'critical'"),
        ({"stop_on": "info"}, "stop_on must be"),
        ({"layers": []}, "at least one layer"),
        ({"probe": None}, "probe"),
        ({"probe": ([[1.0, 2.0]], [0])}, "probe inputs must be a torch.Tensor"),
        ({"every": 0}, "every must be a positive integer"),
        ({"pool": {"net.5": "max"}}, "not watched"),
    ],
)
def test_bad_arguments_fail_at_construction(
    digits: tuple[Any, Any], kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"layers": ["net.1"], "probe": probe(digits), **kwargs}
    with pytest.raises(ValueError, match=message):
        SentrycamCallback(**args)


class FakeTrainer:
    """The attributes the callback reads, for a rank that is not global rank 0."""

    def __init__(self) -> None:
        self.is_global_zero = False
        self.world_size = 2
        self.global_step = 0
        self.should_stop = False
        self.optimizers: list[Any] = []
        self.callback_metrics: dict[str, Any] = {}


def test_other_ranks_do_not_capture(digits: tuple[Any, Any], tmp_path: Path) -> None:
    cb = SentrycamCallback(layers=["net.1"], probe=probe(digits), every=10)
    fake, module = FakeTrainer(), DigitsMLP()
    cb.setup(fake, module, "fit")
    cb.on_train_start(fake, module)
    for step in range(10, 31):
        fake.global_step = step
        cb.on_train_batch_end(fake, module, {"loss": torch.tensor(1.0)}, None, 0)
    cb.on_fit_end(fake, module)
    assert cb.monitor.frames == [] and cb.monitor.stats["captures"] == 0


def test_standalone_pytorch_lightning_trainer_takes_the_callback(
    digits: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    pl = pytest.importorskip("pytorch_lightning")  # imported by the program before sentrycam
    monkeypatch.delitem(sys.modules, "sentrycam.integrations.lightning")
    fresh = importlib.import_module("sentrycam.integrations.lightning")

    class Net(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))

        def forward(self, x: Any) -> Any:
            return self.net(x)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return nn.functional.cross_entropy(self(batch[0]), batch[1])

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=LR)

    cb = fresh.SentrycamCallback(layers=["net.1"], probe=probe(digits), every=5)
    assert isinstance(cb, pl.Callback) and isinstance(cb, L.Callback)
    t = pl.Trainer(  # the callback alone, not in a list: recognised by its type
        max_steps=10,
        callbacks=cb,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    t.fit(Net(), loader(digits))
    assert steps_of(cb.monitor, "net.1") == [0, 5, 10]


def test_missing_lightning_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    for name in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "sentrycam.integrations.lightning")
    with pytest.raises(ImportError, match=r"pip install sentrycam\[lightning\]"):
        importlib.import_module("sentrycam.integrations.lightning")


def test_integrations_package_imports_no_framework() -> None:
    code = (
        "import sys, sentrycam.integrations; "
        "print(sorted(m for m in ('lightning', 'transformers', 'pytorch_lightning') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


DDP_SCRIPT = """
import json, os, sys
import torch, lightning as L
from torch import nn
from sklearn.datasets import load_digits
from sentrycam.integrations.lightning import SentrycamCallback

data = load_digits()
x = torch.tensor(data.data / 16.0, dtype=torch.float32)
y = torch.tensor(data.target)

class Net(L.LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    def forward(self, x):
        return self.net(x)
    def training_step(self, batch, batch_idx):
        if self.global_step == 25:  # every rank's weights go NaN at step 25
            with torch.no_grad():
                self.net[0].weight.fill_(float("nan"))
        return nn.functional.cross_entropy(self(batch[0]), batch[1])
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)

out = sys.argv[1]
cb = SentrycamCallback(layers=["net.1"], probe=(x[1500:1600], y[1500:1600]), every=10,
                       stop_on="critical", record=os.path.join(out, "run.arrows"))
data = torch.utils.data.TensorDataset(x[:1500], y[:1500])
t = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=300, callbacks=[cb],
              enable_progress_bar=False, enable_model_summary=False, logger=False,
              enable_checkpointing=False)
t.fit(Net(), torch.utils.data.DataLoader(data, batch_size=16))
with open(os.path.join(out, f"rank{t.global_rank}.json"), "w") as f:
    json.dump({"step": t.global_step, "frames": [f.step for f in cb.monitor.frames],
               "stopped_by": cb.stopped_by and cb.stopped_by.step}, f)
# Skip interpreter finalization: gloo may abort a process at exit ("terminate called without an
# active exception", pytorch/pytorch#190489); everything is written by now.
sys.stdout.flush(); sys.stderr.flush(); os._exit(0)
"""


def test_ddp_rank_zero_captures_and_all_ranks_stop(tmp_path: Path) -> None:
    """Two CPU processes (gloo): only rank 0 captures and records; both stop at the same step
    (a rank that kept going would wait forever in its next gradient all-reduce)."""
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    env = {"PYTHONWARNINGS": "ignore"}
    run_torchrun(script, str(tmp_path), cwd=tmp_path, env=env, timeout=90)
    rank0 = json.loads((tmp_path / "rank0.json").read_text())
    rank1 = json.loads((tmp_path / "rank1.json").read_text())
    assert rank0 == {"step": 30, "frames": [0, 10, 20, 30], "stopped_by": 30}
    assert rank1 == {"step": 30, "frames": [], "stopped_by": None}
    assert [f.step for f in sentrycam.read_recording(tmp_path / "run.arrows")] == [0, 10, 20, 30]


def test_loss_is_the_steps_own_under_gradient_accumulation(digits: Any) -> None:
    """Lightning hands callbacks the loss divided by the accumulation; the frame carries the
    loss itself (10-class cross-entropy early in training: about 2.3, not a quarter of it)."""
    cb = SentrycamCallback(layers=["net.1"], probe=probe(digits), every=5)
    trainer([cb], max_steps=10, accumulate_grad_batches=4).fit(DigitsMLP(), loader(digits))
    losses = {f.step: f.scalars.get("loss") for f in cb.monitor.frames}
    assert set(losses) == {0, 5, 10}
    assert 1.5 < losses[5] < 3.0 and 1.5 < losses[10] < 3.0, losses


class NoForward(L.LightningModule):
    """A module that calls its network directly and defines no forward()."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=LR)


def test_a_module_without_forward_fails_at_fit_start_saying_what_to_do(digits: Any) -> None:
    cb = SentrycamCallback(layers=["net.1"], probe=probe(digits), every=5)
    with pytest.raises(ValueError, match=r"no forward\(\).*model="):
        trainer([cb], max_steps=5).fit(NoForward(), loader(digits))
    module = NoForward()
    cb = SentrycamCallback(layers=["1"], probe=probe(digits), every=5, model=module.net)
    trainer([cb], max_steps=5).fit(module, loader(digits))
    assert [f.step for f in cb.monitor.frames] == [0, 5]
