"""Scalars given to ``step()`` between captures: averaged into the next capture, recorded with
how many steps they cover, and judged as the steadier readings they are."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import capture

import sentrycam
from sentrycam import SentrycamWarning
from sentrycam.alerts import AlertEngine, AlertReplay, Auditor
from sentrycam.capture import ScalarMeans
from sentrycam.wire import decode_frame, encode


def test_step_averages_the_scalars_given_since_the_last_capture(mlp, probe, sent):
    cam = capture(sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=5), sent)
    for step in range(12):
        # a float, a tensor that still holds its autograd graph, and a numpy number
        loss = (mlp.fc1.weight.sum() * 0 + step).requires_grad_()
        cam.step(step, lr=0.1 * step, loss=loss, acc=np.float32(step % 2))
    frames = {f.step: f for f in cam.frames}
    assert sorted(frames) == [0, 5, 10]
    assert frames[0].scalars["loss"] == 0.0 and frames[0].scalar_steps["loss"] == 1
    assert frames[5].scalars["loss"] == 3.0  # (1 + 2 + 3 + 4 + 5) / 5
    assert math.isclose(frames[5].scalars["lr"], 0.3)
    assert math.isclose(frames[5].scalars["acc"], 0.6)  # 1, 0, 1, 0, 1
    assert frames[10].scalars["loss"] == 8.0
    assert frames[10].scalar_steps == {"lr": 5, "loss": 5, "acc": 5}
    wired = decode_frame(encode(frames[10]))
    assert wired.scalars["loss"] == 8.0 and wired.scalar_steps["loss"] == 5


def test_a_scalar_given_only_between_captures_reaches_the_next_one(mlp, probe, sent):
    cam = capture(sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=10), sent)
    for step in range(11):
        cam.step(step, **({"val_loss": 0.5} if step == 7 else {}))
    last = next(f for f in cam.frames if f.step == 10)
    assert last.scalars["val_loss"] == 0.5 and last.scalar_steps["val_loss"] == 1


def test_a_non_number_is_reported_at_the_capture_and_ignored_between(mlp, probe, sent):
    cam = capture(sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=5), sent)
    with pytest.warns(SentrycamWarning, match="note"):
        for step in range(6):
            cam.step(step, loss=1.0, note="warm")
    assert [f.scalars.get("note") for f in cam.frames] == [None, None]
    assert cam.frames[-1].scalars["loss"] == 1.0
    cam.flush()
    told = [p for p in cam.problems if "note" in p]
    assert [t.split(":")[0] for t in told] == ["step 0", "step 5"]


def test_tensors_are_summed_as_they_were_when_given():
    means = ScalarMeans()
    running = torch.zeros(())
    for value in (1.0, 2.0, 3.0, 4.0):
        running.fill_(value)  # a buffer the loop reuses: each step's value must count
        means.add({"loss": running})
    means.add({"per_sample": torch.ones(32)})  # not a scalar: not kept
    means.add({"loss": torch.tensor(5.0)})
    values, steps = means.take()
    assert values == {"loss": 3.0} and steps == {"loss": 5}
    assert means.take() == ({}, {})  # a new sum starts


def test_a_scalar_that_cannot_be_summed_does_not_stop_training(mlp, probe, sent):
    class Broken:
        def __float__(self) -> float:
            raise ZeroDivisionError("broken")

    cam = capture(sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=5), sent)
    with pytest.warns(SentrycamWarning):
        for step in range(11):
            cam.step(step, loss=1.0, huge=10**400, broken=Broken())
    assert [f.scalars["loss"] for f in cam.frames] == [1.0, 1.0, 1.0]
    assert all("huge" not in f.scalars for f in cam.frames)


class _EngineOfOldAge(AlertEngine):
    """An engine of one's own written before ``averaged`` existed."""

    def update(self, step, layer, values, *, tasks=None):  # type: ignore[override]
        return super().update(step, layer, values, tasks=tasks)


def _loss_stream(eng: AlertEngine, averaged: int) -> list:
    """A steady, slightly noisy training loss captured every 50 steps that doubles at step 500."""
    rng = np.random.default_rng(0)
    alerts = []
    for step in range(0, 701, 50):
        loss = 1.0 + 0.01 * rng.standard_normal() + (1.0 if step >= 500 else 0.0)
        alerts += eng.update(step, None, {"loss": loss}, averaged={"loss": averaged})
    return alerts


def test_a_loss_averaged_over_many_steps_is_judged_from_a_short_reference():
    # One batch's loss waits for 20 reference frames (step 1,050 at every=50): the doubling
    # at step 500 is not told. The mean of 50 steps is judged from 6, as a layer metric is.
    assert _loss_stream(AlertEngine(), averaged=1) == []
    told = _loss_stream(AlertEngine(), averaged=50)
    assert [(a.metric, a.step) for a in told][:1] == [("loss", 550)]  # confirmed at the next


def test_replaying_a_recording_judges_averaged_scalars_as_live(mlp, probe, sent):
    problems: list[str] = []
    cam = capture(sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=50), sent)
    for step in range(701):
        cam.step(step, loss=1.0 + (step % 7) * 0.002 + (1.0 if step > 450 else 0.0))
    cam.flush()
    live = [(a.step, a.metric, a.rule) for a in cam.alerts if a.metric == "loss"]
    assert live
    frames = [decode_frame(encode(f)) for f in cam.frames]
    replayed = [(a.step, a.metric, a.rule) for a in AlertReplay().feed(frames)]
    assert [r for r in replayed if r[1] == "loss"] == live
    # an engine of one's own without `averaged` still gets every scalar (as one step's value)
    old = AlertReplay(_EngineOfOldAge()).feed(frames)
    assert not [a for a in old if "failed" in a.message]
    aud = Auditor(engine=_EngineOfOldAge(), on_problem=problems.append)
    aud.observe_scalars(10, {"loss": 1.0}, {"loss": 50})
    assert problems == [] and aud.engine.streams[(None, "loss")].history.frames == 1


def _averaged_losses(values: list[float]) -> list:
    eng = AlertEngine()
    out = []
    for i, v in enumerate(values):
        out += eng.update(50 * (i + 1), None, {"loss": v}, averaged={"loss": 50})
    return out


def test_a_training_loss_that_turns_and_rises_is_told_at_a_sparse_cadence():
    # The mean training loss of a run whose labels turn noisy at step 273 (EfficientNet in the
    # library corpus, every=50). Its rise is never taken for a baseline trend.
    rising = [0.80, 0.16, 0.09, 0.06, 0.04, 0.12, 0.48, 0.72, 0.80, 1.02, 1.08, 1.18]
    told = [(a.metric, a.step) for a in _averaged_losses(rising)]
    assert told and told[0][0] == "loss" and told[0][1] <= 450
    # the same run, healthy: a loss that falls and flattens, with a wobble, is no failure
    healthy = [0.80, 0.16, 0.09, 0.06, 0.04, 0.03, 0.025, 0.03, 0.02, 0.022, 0.018, 0.02]
    assert _averaged_losses(healthy) == []


def test_a_noisy_low_loss_at_every_10_is_no_rise():
    # ResNet's healthy run in the library corpus: 10-batch means near zero swing 5-fold
    eng = AlertEngine()
    rng = np.random.default_rng(1)
    out = []
    for step in range(10, 1001, 10):
        loss = 2.3 * math.exp(-step / 40) + 0.01 + 0.05 * rng.random() ** 3
        out += eng.update(step, None, {"loss": loss}, averaged={"loss": 10})
    assert out == []


def test_a_training_loss_never_takes_its_own_rise_for_a_baseline():
    # A loss that turns at step 400 and climbs by 0.06 every 50 steps: never twice its low (no
    # `rise`), but the trend rule tells it, as it would not if the climb became its reference.
    climbing = [2.0, 1.2, 0.8, 0.6, 0.5, 0.48, 0.47, 0.5, 0.56, 0.62, 0.68, 0.74, 0.8, 0.86, 0.9]
    told = [(a.rule, a.step) for a in _averaged_losses(climbing)]
    assert told == [("robust", 700)]
