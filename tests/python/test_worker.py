"""The background thread: order kept, nothing dropped, backpressure, alerts at the next step,
``sync=True``, the time budget, and bad input that must be caught before training starts."""

from __future__ import annotations

import itertools
import os
import threading
import time
import warnings

import numpy as np
import pytest
import torch
from conftest import capture
from torch import nn

import sentrycam
from sentrycam import SentrycamWarning
from sentrycam.pipeline import CaptureWorker


def test_frames_keep_their_order_and_none_is_dropped(sent):
    cam = capture(sentrycam.Monitor(), sent)
    for step in range(300):
        cam.log(step, {"a": np.full((5, 3), step), "b": np.full((5, 2), -step)})
    cam.flush()
    assert [(f.step, f.layer) for f in cam.frames] == [
        (s, layer) for s in range(300) for layer in ("a", "b")
    ]
    assert [f.seq for f in cam.frames] == list(range(600))
    assert sent.frame_seqs() == list(range(600))
    assert cam.stats["captures"] == 300


def test_the_background_thread_does_the_work_and_backpressure_is_counted(monkeypatch):
    import sentrycam.pipeline._builder as builder

    threads = set()
    real = builder.FrameBuilder.build

    def slow_build(self, cap):
        threads.add(threading.current_thread().name)
        time.sleep(0.05)
        return real(self, cap)

    monkeypatch.setattr(builder.FrameBuilder, "build", slow_build)
    cam = sentrycam.Monitor()
    t0 = time.perf_counter()
    for step in range(6):
        cam.log(step, {"h": np.ones((4, 2))})
    handed_over = time.perf_counter() - t0
    assert threads <= {"sentrycam-capture"}
    cam.flush()
    assert threads == {"sentrycam-capture"} and len(cam.frames) == 6
    stats = cam.stats
    # Two captures fit in the queue; the other four waited for a slot.
    assert stats["waited_ms"] > 100 and handed_over < 6 * 0.05
    assert {"captures", "effective_every", "train_thread_ms", "waited_ms"} <= set(stats)


def test_close_drains_everything_into_the_recording(tmp_path, mlp, probe):
    path = tmp_path / "run.arrows"
    cam = sentrycam.Monitor(mlp, layers=["act1", "act2"], probe=probe, every=1, record=path)
    for step in range(25):
        cam.step(step, loss=1.0 / (step + 1))
    cam.close()
    assert len(sentrycam.read_recording(path)) == 50
    assert [f.step for f in cam.frames][-2:] == [24, 24]


def test_alert_callbacks_run_on_the_training_thread_at_the_next_step():
    cam = sentrycam.Monitor()
    seen = []
    cam.on_alert(lambda alert: seen.append((alert.step, threading.current_thread().name)))
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SentrycamWarning)
        cam.log(0, {"h": rng.normal(size=(20, 3))})
        cam.flush()
        cam.log(1, {"h": np.full((20, 3), np.nan)})  # a critical alert, computed in background
        cam._pipeline.settle()  # the alert is computed; its callback has not run
        assert seen == [], "not inside another thread, not before the next call"
        cam.log(2, {"h": rng.normal(size=(20, 3))})  # delivered here, on this thread
    assert seen and seen[0] == (1, threading.current_thread().name)


def test_alert_callbacks_run_in_flush_and_close(mlp, probe):
    cam = sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=1)
    seen = []
    cam.on_alert(seen.append)
    with torch.no_grad():
        mlp.fc1.weight[0, 0] = float("nan")
    with pytest.warns(SentrycamWarning, match="non-finite"):
        cam.step(0)
        cam.flush()
    assert any(a.severity == "critical" for a in seen)


def test_sync_mode_raises_the_alert_inside_the_same_step():
    cam = sentrycam.Monitor(sync=True)
    seen = []
    cam.on_alert(seen.append)
    with pytest.warns(SentrycamWarning, match="non-finite"):
        cam.log(0, {"h": np.full((10, 2), np.nan)})
    assert seen and seen[0].step == 0 and cam._pipeline.worker is None


def test_a_callback_that_raises_stops_the_loop_like_before():
    cam = sentrycam.Monitor(sync=True)

    def stop(alert):
        raise KeyboardInterrupt(alert.message)

    cam.on_alert(stop)
    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings():
        warnings.simplefilter("ignore", SentrycamWarning)
        cam.log(0, {"h": np.full((10, 2), np.inf)})


def test_an_interrupt_while_waiting_for_a_slot_still_hands_the_capture_over():
    done = []
    gate = threading.Event()

    def process(item):
        gate.wait()
        done.append(item)

    worker = CaptureWorker(process, lambda: False, on_error=print, maxsize=1)
    worker.submit(0)
    interrupted = threading.Timer(0.2, lambda: gate.set())

    class Interrupt(Exception):
        pass

    def raising_wait(self, timeout=None):  # what a Ctrl-C inside Condition.wait looks like
        raise Interrupt

    original = threading.Condition.wait
    threading.Condition.wait = raising_wait
    try:
        with pytest.raises(Interrupt):
            worker.submit(1)
    finally:
        threading.Condition.wait = original
    interrupted.start()
    assert worker.join(timeout=5)
    assert done == [0, 1]
    worker.stop()


def test_a_budget_stretches_the_cadence():
    class SlowProbe(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            if not self.training:
                time.sleep(0.03)  # a probe pass that costs 30 ms
            return self.fc(x)

    model = SlowProbe()
    cam = sentrycam.Monitor(model, layers=["fc"], probe=torch.randn(8, 4), every=2, budget=0.05)
    for step in range(200):
        time.sleep(0.003)  # a 3 ms training step: the probe alone is 10 steps' worth
        cam.step(step)
    stats = cam.stats
    # 5% of 3 ms steps allows one 30 ms capture per ~190 steps; never below every.
    assert stats["effective_every"] >= 60 and stats["effective_every"] % 2 == 0
    assert 1 <= stats["captures"] <= 4
    assert {f.step for f in cam.frames} >= {0}
    assert all(f.every == 2 for f in cam.frames[:1])


def test_without_a_budget_the_cadence_is_every(mlp, probe):
    cam = sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=3)
    for step in range(10):
        cam.step(step)
    assert [f.step for f in cam.frames] == [0, 3, 6, 9]
    assert cam.stats["effective_every"] == 3 and all(f.every == 3 for f in cam.frames)


@pytest.mark.parametrize("step", [1.5, "3", None, True, torch.tensor(2.0)])
def test_a_step_that_is_not_an_integer_is_a_type_error(mlp, probe, step):
    cam = sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=1)
    with pytest.raises(TypeError, match="step must be an integer"):
        cam.step(step)
    with pytest.raises(TypeError, match="step must be an integer"):
        cam.log(step, {"h": np.ones((2, 2))})


def test_integer_like_steps_are_accepted(mlp, probe):
    cam = sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=1)
    for step in (np.int64(0), torch.tensor(1), 2):
        cam.step(step)
    assert [f.step for f in cam.frames] == [0, 1, 2]


def test_a_recording_path_that_cannot_be_written_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        sentrycam.Monitor(record=tmp_path / "missing" / "run.arrows")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        sentrycam.Monitor(record=tmp_path / "file" / "run.arrows")
    with pytest.raises(ValueError, match="it is a folder"):
        sentrycam.Monitor(record=tmp_path)


def test_a_recording_folder_without_write_permission_is_a_value_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: every folder is writable")
        with pytest.raises(ValueError, match="writable"):
            sentrycam.Monitor(record=locked / "run.arrows")
    finally:
        locked.chmod(0o700)


class FakeClock:
    """A perf_counter the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _simulate(
    monkeypatch, *, steps, calls_per_step=1, call_s=0.001, capture_s=0.01, pause=None, first_s=None
):
    """Drive a Cadence(every=10, budget=0.05) through a simulated loop; return it and captures.
    ``first_s``: what the first capture costs (one-time costs; ``capture_s`` by default)."""
    import sentrycam.capture._cadence as cadence_module

    clock = FakeClock()
    monkeypatch.setattr(cadence_module.time, "perf_counter", clock)
    cadence = cadence_module.Cadence(10, 0.05)
    captured = []
    for step in range(steps):
        for _ in range(calls_per_step):
            clock.now += call_s
            if pause is not None and step == pause[0]:
                clock.now += pause[1]
            if cadence.due(step):
                start = clock.now
                cost = first_s if first_s is not None and not captured else capture_s
                clock.now += cost
                cadence.captured(step, start, cost, 0.0, 0.0)
                cadence.captured_until_now()
                captured.append(step)
    return cadence, captured


def test_the_budget_measures_per_call_so_gradient_accumulation_does_not_switch_it_off(
    monkeypatch,
):
    plain, caps1 = _simulate(monkeypatch, steps=20_000)
    accumulated, caps4 = _simulate(monkeypatch, steps=5_000, calls_per_step=4)
    # The same training time (5,000 steps of four 1 ms calls, 20,000 steps of one): the same
    # share of it for monitoring, not a cadence that runs away.
    from sentrycam.capture._cadence import BUDGET_AIM

    share = BUDGET_AIM * 0.05
    assert abs(plain.effective_every - 0.01 * (1 - share) / (share * 0.001)) <= 10
    assert accumulated.effective_every * 4 == pytest.approx(plain.effective_every, rel=0.1)
    assert len(caps4) == pytest.approx(len(caps1), rel=0.25)  # the same time: as many captures


def test_one_time_costs_of_the_first_capture_are_not_taken_as_the_cost_of_a_capture(monkeypatch):
    warm, warm_captures = _simulate(monkeypatch, steps=20_000)
    # A fresh process: the first probe pass, the thread's start and imports cost 300 ms once.
    fresh, fresh_captures = _simulate(monkeypatch, steps=20_000, first_s=0.3)
    assert fresh_captures[:2] == [0, 10]  # the next capture measures what a capture costs
    assert fresh.effective_every == warm.effective_every
    assert len(fresh_captures) >= len(warm_captures) - 1


def test_the_cost_estimate_follows_a_capture_that_gets_cheaper(monkeypatch):
    import sentrycam.capture._cadence as cadence_module

    clock = FakeClock()
    monkeypatch.setattr(cadence_module.time, "perf_counter", clock)
    cadence = cadence_module.Cadence(10, 0.05)
    every = []
    for step in range(60_000):
        clock.now += 0.001
        if cadence.due(step):
            start, cost = clock.now, 0.05 if step < 20_000 else 0.005
            clock.now += cost
            cadence.captured(step, start, cost, 0.0, 0.0)
            cadence.captured_until_now()
            every.append((step, cadence.effective_every))
    before = [e for step, e in every if 5_000 < step < 20_000]
    assert before and every[-1][1] < min(before) / 5  # refreshed: ten times cheaper, far denser


def test_a_pause_between_steps_does_not_count_as_training_or_monitoring(monkeypatch):
    steady, _ = _simulate(monkeypatch, steps=6_000)
    paused, captured = _simulate(monkeypatch, steps=6_000, pause=(3_000, 60.0))
    assert paused.effective_every == steady.effective_every
    # (the second capture comes at the base cadence, to measure a capture without one-time costs)
    assert all(b - a >= steady.effective_every for a, b in itertools.pairwise(captured[1:]))


def test_log_captures_do_not_move_the_probe_cadence(mlp, probe):
    cam = sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=5)
    for step in range(21):
        cam.log(step, {"extra": np.ones((40, 2))})
        cam.step(step)
    assert [f.step for f in cam.frames if f.layer == "act1"] == [0, 5, 10, 15, 20]
    assert cam.stats["captures"] == 21 + 5


def test_a_callback_that_raises_leaves_the_other_alerts_queued():
    cam = sentrycam.Monitor()
    seen = []

    def callback(alert):
        seen.append(alert.layer)
        if len(seen) == 1:
            raise RuntimeError("stop here")

    cam.on_alert(callback)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SentrycamWarning)
        cam.log(0, {"a": np.full((10, 2), np.nan)})
        cam.log(1000, {"b": np.full((10, 2), np.nan)})  # later: another incident, its own alert
        with pytest.raises(RuntimeError, match="stop here"):
            cam.flush()
        cam.flush()
    assert sorted(seen) == ["a", "b"]


def test_the_background_thread_leaves_torch_threads_of_other_threads_alone():
    before = torch.get_num_threads()
    cam = sentrycam.Monitor()
    cam.log(0, {"h": torch.randn(20, 3)})
    cam.flush()
    later = []
    thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert torch.get_num_threads() == before and later == [before]


def test_history_memory_counts_the_activations_it_holds():
    cam = sentrycam.Monitor()
    cam.log(0, {"h": torch.randn(100, 64)})
    (frame,) = cam.frames
    assert frame.memory >= frame.nbytes + 100 * 64 * 4


def test_log_copies_labels_the_loop_may_reuse():
    labels = torch.zeros(6, dtype=torch.int32)
    cam = sentrycam.Monitor()
    cam.log(0, {"h": np.ones((6, 2))}, labels=labels)
    labels += 7  # the training loop reuses its buffer right away
    assert cam.frames[0].labels.tolist() == [0] * 6
