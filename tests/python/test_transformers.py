"""SentrycamCallback in a real transformers.Trainer: a tiny BERT built from a config (no
download) learns whether token 7 appears in a generated sequence."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # transformers.Trainer needs it

from conftest import run_torchrun  # noqa: E402
from jobs.tiny_bert import TOKENS, NaNAt, Tokens, make_tokens, tiny_bert  # noqa: E402

import sentrycam  # noqa: E402
from sentrycam import Monitor, SentrycamWarning  # noqa: E402
from sentrycam.integrations.transformers import SentrycamCallback  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TOKEN_LAYER = "bert.encoder.layer.0.output"  # (N, T, D) hidden states
LAYERS = [TOKEN_LAYER, "bert.pooler"]


@pytest.fixture(scope="module")
def probe() -> tuple[dict[str, Any], Any]:
    ids, mask, labels = make_tokens(96, seed=99)
    return {"input_ids": ids, "attention_mask": mask}, labels


class Spy(transformers.TrainerCallback):
    """The optimizer's learning rate at the end of each step."""

    def __init__(self) -> None:
        self.lr: dict[int, float] = {}

    def on_step_end(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kw: Any):
        self.lr[state.global_step] = optimizer.param_groups[0]["lr"]


def train(
    tmp_path: Path, callbacks: list[Any], max_steps: int, logging_steps: int = 5, **kwargs: Any
) -> Any:
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        logging_steps=logging_steps,
        max_steps=max_steps,
        disable_tqdm=True,
        per_device_train_batch_size=16,
        learning_rate=1e-3,
        seed=0,
        **kwargs,
    )
    trainer = transformers.Trainer(
        model=tiny_bert(), args=args, train_dataset=Tokens(1024, seed=0), callbacks=callbacks
    )
    trainer.train()
    return trainer


def steps_of(cam: Monitor, layer: str) -> list[int]:
    return [f.step for f in cam.frames if f.layer == layer]


def logged(trainer: Any, key: str = "loss") -> dict[int, float]:
    return {h["step"]: h[key] for h in trainer.state.log_history if key in h}


def test_token_layers_captured_at_every_steps_with_the_steps_loss(
    tmp_path: Path, probe: Any
) -> None:
    cb = SentrycamCallback(layers=LAYERS, probe=probe, every=10)
    spy = Spy()
    trainer = train(tmp_path, [spy, cb], max_steps=40, warmup_steps=15)
    assert trainer.state.global_step == 40
    cam = cb.monitor
    for layer in LAYERS:
        assert steps_of(cam, layer) == [0, 10, 20, 30, 40]
    tokens = [f for f in cam.frames if f.layer == TOKEN_LAYER]
    assert {f.shape for f in tokens} == {(96, TOKENS, 32)}  # (N, T, D) ...
    assert {f.x.shape for f in tokens} == {(96, 32)}  # ... pooled to one row per example
    assert {f.pool for f in tokens} == {"mean"}
    assert all(f.labels is not None and f.labels.tolist() == probe[1].tolist() for f in tokens)
    losses = logged(trainer)
    for f in tokens[1:]:
        # logged at the very step captured (the capture waited for the log), then lr and grads
        assert f.scalars["loss"] == pytest.approx(losses[f.step])
        assert f.scalars["grad_norm"] == pytest.approx(logged(trainer, "grad_norm")[f.step])
        assert f.scalars["lr"] == pytest.approx(spy.lr[f.step])
        assert "epoch" not in f.scalars and "learning_rate" not in f.scalars
    own = {k: v for k, v in tokens[0].scalars.items() if not k.startswith("logit_")}
    assert own == {"lr": 0.0}  # before the first step of the warm-up (and the output's streams)
    assert tokens[1].scalars["lr"] < tokens[2].scalars["lr"]  # the warm-up rides along
    assert cb.stopped_by is None


def test_logs_between_captures_ride_with_the_next_one(tmp_path: Path, probe: Any) -> None:
    cb = SentrycamCallback(layers=TOKEN_LAYER, probe=probe, every=10)
    trainer = train(tmp_path, [cb], max_steps=30, logging_steps=7)
    losses = logged(trainer)
    assert sorted(losses) == [7, 14, 21, 28]
    by_step = {f.step: f.scalars for f in cb.monitor.frames}
    assert sorted(by_step) == [0, 10, 20, 30]
    assert by_step[10]["loss"] == pytest.approx(losses[7])
    assert by_step[20]["loss"] == pytest.approx(losses[14])
    assert by_step[30]["loss"] == pytest.approx(losses[28])  # the latest since step 20


@pytest.mark.filterwarnings("ignore::sentrycam.SentrycamWarning")
@pytest.mark.parametrize("sync", [True, False])
def test_stop_on_critical_stops_training_at_the_nan(tmp_path: Path, probe: Any, sync: bool) -> None:
    cb = SentrycamCallback(layers=LAYERS, probe=probe, every=10, stop_on="critical", sync=sync)
    trainer = train(tmp_path, [NaNAt(15), cb], max_steps=400)
    # The capture at step 20 sees the NaN: with sync=True the loop stops at once; from the
    # background thread the alert reaches it some steps later, more on a busy machine.
    assert 20 <= trainer.state.global_step <= (21 if sync else 200), trainer.state.global_step
    alert = cb.stopped_by
    assert alert is not None and alert.severity == "critical" and alert.step == 20
    assert steps_of(cb.monitor, TOKEN_LAYER)[-1] == 20
    assert any(a.metric == "nonfinite_frac" and a.layer == TOKEN_LAYER for a in cb.monitor.alerts)


def test_without_stop_on_training_runs_to_the_end(tmp_path: Path, probe: Any) -> None:
    cb = SentrycamCallback(layers=TOKEN_LAYER, probe=probe, every=10)
    with pytest.warns(SentrycamWarning, match="non-finite"):
        trainer = train(tmp_path, [NaNAt(15), cb], max_steps=50)
    assert trainer.state.global_step == 50
    assert cb.stopped_by is None
    assert any(a.severity == "critical" and a.step == 20 for a in cb.monitor.alerts)
    assert steps_of(cb.monitor, TOKEN_LAYER) == [0, 10, 20, 30, 40, 50]


def test_monitor_is_displayable_before_training_and_records(tmp_path: Path, probe: Any) -> None:
    path = tmp_path / "run.arrows"
    cb = SentrycamCallback(layers=LAYERS, probe=probe, every=10, record=path)
    cam = cb.monitor
    assert isinstance(cam, Monitor)
    assert "application/vnd.jupyter.widget-view+json" in cam._repr_mimebundle_()[0]
    train(tmp_path, [cb], max_steps=20)
    assert cb.monitor is cam
    recorded = sentrycam.read_recording(path)  # complete after training, before close
    assert sorted({(f.step, f.layer) for f in recorded}) == [
        (s, layer) for s in (0, 10, 20) for layer in sorted(LAYERS)
    ]
    assert recorded[-1].scalars["loss"] == pytest.approx(cam.frames[-1].scalars["loss"])
    cam.close()


def test_unknown_layer_fails_train_before_the_first_step(tmp_path: Path, probe: Any) -> None:
    cb = SentrycamCallback(layers=["bert.encoder.layer.5.output"], probe=probe, every=10)
    with pytest.raises(
        ValueError, match=r"unknown layer.*encoder\.layer\.1\.output.*stages: bert "
    ):
        train(tmp_path, [cb], max_steps=20)
    assert cb.monitor.frames == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stop_on": "error"}, "stop_on must be None, 'warning' or 'critical'"),
        ({"layers": ()}, "at least one layer"),
        ({"probe": ({"input_ids": [[1, 2]]}, [0])}, "probe inputs must be a torch.Tensor"),
    ],
)
def test_bad_arguments_fail_at_construction(
    probe: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SentrycamCallback(**{"layers": LAYERS, "probe": probe, **kwargs})


def test_other_processes_do_not_capture(probe: Any) -> None:
    cb = SentrycamCallback(layers=LAYERS, probe=probe, every=10)
    args = transformers.TrainingArguments(output_dir="unused", use_cpu=True, report_to=[])
    state = transformers.TrainerState(is_world_process_zero=False)
    control = transformers.TrainerControl()
    model = tiny_bert()
    cb.on_train_begin(args, state, control, model=model)
    for step in range(1, 31):
        state.global_step = step
        control.should_log = step % 5 == 0
        cb.on_step_end(args, state, control, model=model)
        cb.on_log(args, state, control, logs={"loss": 1.0}, model=model)
    cb.on_train_end(args, state, control, model=model)
    assert cb.monitor.frames == [] and cb.monitor.stats["captures"] == 0


def test_missing_transformers_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.delitem(sys.modules, "sentrycam.integrations.transformers")
    with pytest.raises(ImportError, match=r"pip install sentrycam\[transformers\]"):
        importlib.import_module("sentrycam.integrations.transformers")


JOBS = Path(__file__).parent / "jobs"
DDP_SCRIPT = """
import json, os, sys
import torch, transformers
sys.path.insert(0, {jobs!r})
from tiny_bert import Tokens, make_tokens, tiny_bert, NaNAt
from sentrycam.integrations.transformers import SentrycamCallback

out = sys.argv[1]
ids, mask, labels = make_tokens(64, seed=99)
cb = SentrycamCallback(layers=["bert.encoder.layer.0.output"], every=10, stop_on="critical",
                       probe=({"input_ids": ids, "attention_mask": mask}, labels),
                       record=os.path.join(out, "run.arrows"))
args = transformers.TrainingArguments(output_dir=out, use_cpu=True, report_to=[],
                                      save_strategy="no", logging_steps=5, max_steps=300,
                                      disable_tqdm=True, per_device_train_batch_size=8)
trainer = transformers.Trainer(model=tiny_bert(), args=args, train_dataset=Tokens(4096, 0),
                               callbacks=[NaNAt(15), cb])
trainer.train()
with open(os.path.join(out, f"rank{args.process_index}.json"), "w") as f:
    json.dump({"step": trainer.state.global_step, "frames": [f.step for f in cb.monitor.frames],
               "stopped_by": cb.stopped_by and cb.stopped_by.step}, f)
# Skip interpreter finalization: gloo may abort a process at exit ("terminate called without an
# active exception", pytorch/pytorch#190489); everything is written by now.
sys.stdout.flush(); sys.stderr.flush(); os._exit(0)
"""


def test_ddp_main_process_captures_and_all_stop(tmp_path: Path) -> None:
    """Two CPU processes (torchrun, gloo): only the main one captures and records; both stop at
    the same step (a process that kept going would wait forever in its next all-reduce)."""
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT).replace("{jobs!r}", repr(str(JOBS))))
    env = {"PYTHONWARNINGS": "ignore"}
    run_torchrun(script, str(tmp_path), cwd=tmp_path, env=env, timeout=90)
    rank0 = json.loads((tmp_path / "rank0.json").read_text())
    rank1 = json.loads((tmp_path / "rank1.json").read_text())
    assert rank0 == {"step": 20, "frames": [0, 10, 20], "stopped_by": 20}
    assert rank1 == {"step": 20, "frames": [], "stopped_by": None}
    assert [f.step for f in sentrycam.read_recording(tmp_path / "run.arrows")] == [0, 10, 20]
