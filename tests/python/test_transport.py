"""log(), the Arrow encoding, recordings, replay to late views, pacing, snapshots."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pyarrow as pa
import pytest
import torch
from conftest import capture

import sentrycam
from sentrycam import SentrycamWarning
from sentrycam.contract import PROTOCOL_VERSION
from sentrycam.wire import decode_frame, encode_frame


def test_encoding_matches_the_contract():
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    data = encode_frame(
        seq=3,
        step=30,
        layer="h",
        x=x,
        ids=np.arange(6, dtype=np.int32),
        labels=np.array([0, 1, -1, 1, 0, 2], dtype=np.int32),
        scalars={"loss": 0.25},
        metrics={"fisher": float("nan")},
    )
    table = pa.ipc.open_stream(data).read_all()
    assert table.schema.field("id").type == pa.int32()
    assert table.schema.field("label").type == pa.int32()
    assert table.schema.field("pred").type == pa.int32()
    assert table.schema.field("x").type == pa.list_(pa.float32(), 4)
    meta = json.loads(table.schema.metadata[b"sentrycam"])
    assert meta["step"] == 30 and meta["layer"] == "h" and meta["seq"] == 3
    assert meta["scalars"] == {"loss": 0.25} and meta["metrics"] == {"fisher": None}
    assert list(table.schema.metadata) == [b"sentrycam"]  # one key: no duplicated facts
    assert meta["groups"] == [] and meta["tasks"] == []
    assert table.schema.names == ["id", "label", "pred", "x", "group"]
    assert table.column("group").null_count == 6
    assert table.column("label").null_count == 1
    assert table.column("pred").null_count == 6
    back = decode_frame(data)
    np.testing.assert_array_equal(back.x, x)
    assert back.labels.tolist() == [0, 1, -1, 1, 0, 2] and back.preds is None


def test_float16_frames_halve_the_bytes():
    x = np.ones((100, 64), dtype=np.float32)
    ids = np.arange(100, dtype=np.int32)
    f32 = encode_frame(seq=0, step=0, layer="a", x=x, ids=ids)
    f16 = encode_frame(seq=0, step=0, layer="a", x=x, ids=ids, dtype="float16")
    assert len(f16) < 0.6 * len(f32)
    assert decode_frame(f16).x.dtype == np.float32


def test_log_accepts_numpy_torch_and_lists(sent):
    cam = capture(sentrycam.Monitor(), sent)
    rng = np.random.default_rng(0)
    cam.log(
        0,
        {"np": rng.normal(size=(10, 3)), "torch": torch.randn(10, 5), "list": [[1, 2]] * 10},
        labels=np.arange(10) % 2,
        preds=torch.randn(10, 2),
        loss=torch.tensor(0.5),
    )
    cam.flush()
    assert [f.layer for f in cam.frames] == ["np", "torch", "list"]
    assert cam.layers == ["np", "torch", "list"]
    assert cam.frames[1].d == 5 and cam.frames[1].preds.shape == (10,)
    assert cam.frames[0].scalars == {"loss": 0.5}
    assert len(sent.frame_seqs()) == 3


def test_log_with_bad_arrays_warns_and_keeps_the_rest(sent):
    cam = capture(sentrycam.Monitor(), sent)
    with pytest.warns(SentrycamWarning) as record:
        cam.log(0, {"ok": np.ones((4, 2)), "text": np.array([["a", "b"]] * 4)}, labels=[1, 2, 3])
    frames = cam.frames
    messages = " ".join(str(w.message) for w in record)
    assert (
        "must be numeric" in messages and "labels has 3 entries but there are 4 samples" in messages
    )
    assert [f.layer for f in frames] == ["ok"] and frames[0].labels is None


def test_strict_mode_raises_instead(sent):
    cam = capture(sentrycam.Monitor(strict=True), sent)
    with pytest.raises(TypeError, match="numeric"):
        cam.log(0, {"text": np.array([["a"]])})


def test_log_rejects_a_non_mapping():
    with pytest.raises(TypeError, match="dict"):
        sentrycam.Monitor().log(0, np.ones((3, 3)))


def test_recording_is_readable_by_pyarrow(tmp_path, mlp, probe):
    path = tmp_path / "run.arrows"
    with sentrycam.Monitor(mlp, layers=["act1", "act2"], probe=probe, every=2, record=path) as cam:
        for step in range(10):
            cam.step(step, loss=float(step))
    first = pa.ipc.open_stream(path.read_bytes()).read_all()
    assert (
        first.num_rows == 40 and json.loads(first.schema.metadata[b"sentrycam"])["layer"] == "act1"
    )
    frames = sentrycam.read_recording(path)
    assert [(f.step, f.layer) for f in frames] == [
        (s, layer) for s in (0, 2, 4, 6, 8) for layer in ("act1", "act2")
    ]
    for a, b in zip(frames, cam.frames, strict=True):
        np.testing.assert_array_equal(a.x, b.x)
    path.write_bytes(path.read_bytes()[:-100])  # a crash in the middle of the last write
    with pytest.warns(UserWarning, match="corrupt or truncated"):
        kept = sentrycam.read_recording(path)
    assert [(f.step, f.layer) for f in kept] == [(f.step, f.layer) for f in frames[:-1]]
    with pytest.raises(ValueError, match="corrupt or truncated"):
        sentrycam.read_recording(path, strict=True)


def test_a_late_view_gets_every_frame_it_missed(sent):
    cam = capture(sentrycam.Monitor(), sent)
    for step in range(5):
        cam.log(step, {"h": np.full((3, 2), step, dtype=np.float32)})
    cam.flush()
    sent.messages.clear()
    cam._handle_message(
        cam, {"type": "hello", "view": "v1", "have": [], "protocol": PROTOCOL_VERSION}, []
    )
    assert sent.frame_seqs() == [0, 1, 2, 3, 4]
    sent.messages.clear()
    cam._handle_message(
        cam, {"type": "hello", "view": "v2", "have": [[0, 3]], "protocol": PROTOCOL_VERSION}, []
    )
    assert sent.frame_seqs() == [4]
    sent.messages.clear()  # a view that missed frames 1-2 while its bundle loaded
    cam._handle_message(
        cam,
        {"type": "hello", "view": "v3", "have": [[0, 0], [3, 4]], "protocol": PROTOCOL_VERSION},
        [],
    )
    assert sent.frame_seqs() == [1, 2]
    decoded = [decode_frame(b) for _, bufs in sent.of_type("frames") for b in bufs]
    assert [f.step for f in decoded] == [1, 2]


def test_fast_frames_are_batched_not_dropped(sent):
    cam = capture(sentrycam.Monitor(), sent)
    for step in range(200):
        cam.log(step, {"h": np.ones((2, 2))})
    cam.flush()
    assert sent.frame_seqs() == list(range(200))
    assert len(sent.of_type("frames")) < 100, "frames arriving faster than ~50/s share messages"


def test_history_is_bounded_and_says_so(sent):
    cam = capture(sentrycam.Monitor(max_frames=4), sent)
    with pytest.warns(SentrycamWarning, match="in-memory history is full"):
        for step in range(10):
            cam.log(step, {"h": np.ones((2, 2))})
    assert [f.step for f in cam.frames] == [6, 7, 8, 9]
    cam.flush()
    assert sent.frame_seqs() == list(range(10)), "every frame is still sent"


def test_snapshot_without_a_view_says_so(tmp_path):
    cam = sentrycam.Monitor()
    with pytest.warns(SentrycamWarning, match="no view of this monitor is displayed"):
        snap = cam.snapshot(tmp_path / "x.png")
    assert snap.state == "failed" and snap.done
    assert not (tmp_path / "x.png").exists()


def test_snapshot_is_written_when_the_view_answers(tmp_path, sent):
    cam = capture(sentrycam.Monitor(), sent)
    cam._handle_message(
        cam, {"type": "hello", "view": "v", "have": [], "protocol": PROTOCOL_VERSION}, []
    )
    snap = cam.snapshot(tmp_path / "out" / "view.png")
    assert snap.state == "pending" and "after this cell" in str(snap)
    (request,) = [c for c, _ in sent.of_type("snapshot")]
    assert request["format"] == "png"
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    cam._handle_message(
        cam, {"type": "snapshot", "id": request["id"], "ok": True}, [memoryview(png)]
    )
    assert snap.state == "written" and (tmp_path / "out" / "view.png").read_bytes() == png
    # A second view answering the same request changes nothing.
    cam._handle_message(cam, {"type": "snapshot", "id": request["id"], "ok": True}, [b"junk"])
    assert (tmp_path / "out" / "view.png").read_bytes() == png


def test_snapshot_rejects_what_is_not_an_image(tmp_path, sent):
    cam = capture(sentrycam.Monitor(), sent)
    cam._handle_message(
        cam, {"type": "hello", "view": "v", "have": [], "protocol": PROTOCOL_VERSION}, []
    )
    snap = cam.snapshot(tmp_path / "v.svg")
    assert [c["format"] for c, _ in sent.of_type("snapshot")] == ["svg"]
    with pytest.warns(SentrycamWarning, match="not an SVG"):
        cam._handle_message(cam, {"type": "snapshot", "id": snap.id, "ok": True}, [b"PNG?"])
    assert snap.state == "failed" and not (tmp_path / "v.svg").exists()
    with pytest.raises(ValueError, match="format"):
        cam.snapshot(tmp_path / "v.jpg")


def test_ordinary_training_passes_see_no_hooks(mlp, probe):
    """Outside probe runs no hook is registered: training forward passes store no activations."""
    cam = sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=1_000_000)
    for step in range(1, 50):
        mlp(torch.randn(16, 8))
        cam.step(step)
        assert not mlp.act1._forward_hooks
    assert cam.frames == []


def test_a_recurring_problem_is_told_a_few_times_then_counted(sent):
    cam = capture(sentrycam.Monitor(), sent)
    with pytest.warns(SentrycamWarning):
        for step in range(250):
            cam.log(step, {"h": np.full((4, 2), np.nan)})
    assert len(cam.frames) == 250, "every frame is still captured"
    told = [p for p in cam.problems if "non-finite" in p]
    assert len(told) == 5  # the first three, then the 100th and 200th with a count
    assert "(seen 200 times)" in told[-1]
    assert len(sent.of_type("notice")) == 5


def test_scalars_that_are_not_numbers_never_raise(sent):
    cam = capture(sentrycam.Monitor(), sent)
    with pytest.warns(SentrycamWarning, match="is not a number"):
        cam.log(0, {"h": np.ones((3, 2))}, loss=torch.ones(3), big=10**400, ok=1.5)
    assert cam.frames[0].scalars == {"ok": 1.5}


def test_float16_overflow_is_counted_and_explained():
    cam = sentrycam.Monitor(dtype="float16")
    with pytest.warns(SentrycamWarning, match="float16"):
        cam.log(0, {"h": np.full((4, 2), 1e6)})
        cam.flush()
    (frame,) = cam.frames
    assert frame.nonfinite == 8 and frame.memory > frame.nbytes


def test_replay_shows_a_recording_with_its_alerts(tmp_path, sent):
    path = tmp_path / "run.arrows"
    with sentrycam.Monitor(record=path) as live:
        rng = np.random.default_rng(0)
        for step in range(30):
            x = rng.normal(size=(50, 6))
            if step >= 20:
                x[0, 0] = np.nan  # a hard alert the replay must find again
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                live.log(step, {"h": x}, labels=np.arange(50) % 3, loss=1.0 / (step + 1))
    cam = capture(sentrycam.Monitor.replay(path, reducer="pca"), sent)
    assert [f.seq for f in cam.frames] == [f.seq for f in live.frames]
    assert cam.layers == ["h"] and cam.reducer == "pca"
    np.testing.assert_equal(cam.frames[-1].metrics, live.frames[-1].metrics)  # NaN == NaN here
    assert [(a.step, a.metric, a.rule) for a in cam.alerts] == [
        (a.step, a.metric, a.rule) for a in live.alerts
    ]
    assert any(a.step == 20 for a in cam.alerts)
    cam._handle_message(
        cam, {"type": "hello", "view": "v", "have": [], "protocol": PROTOCOL_VERSION}, []
    )
    assert sent.frame_seqs() == [f.seq for f in live.frames]
    assert sent.of_type("alerts"), "the replayed alerts reach the view"


class _Events:
    """IPython's event registry, as much of it as sentrycam uses."""

    def __init__(self) -> None:
        self.hooks: dict[str, list] = {}

    def register(self, event, fn) -> None:
        self.hooks.setdefault(event, []).append(fn)

    def unregister(self, event, fn) -> None:
        self.hooks[event].remove(fn)

    def fire(self, event) -> None:
        for fn in list(self.hooks.get(event, [])):
            fn()


def test_a_pending_snapshot_is_noted_only_after_the_kernel_was_idle(
    tmp_path, sent, monkeypatch, capsys
):
    import types

    import sentrycam._notices as notices

    events = _Events()
    monkeypatch.setattr(notices, "_shell", lambda: types.SimpleNamespace(events=events))
    now = [100.0]
    monkeypatch.setattr(notices.time, "monotonic", lambda: now[0])
    cam = capture(sentrycam.Monitor(), sent)
    cam._handle_message(
        cam, {"type": "hello", "view": "v", "have": [], "protocol": PROTOCOL_VERSION}, []
    )
    cam.snapshot(tmp_path / "view.png")
    events.fire("post_execute")  # the snapshot cell ends ...
    now[0] += 0.01
    events.fire("pre_run_cell")  # ... and Run All starts the next one at once: the view's
    assert "still waiting" not in capsys.readouterr().out  # answer is queued behind it
    events.fire("post_execute")
    now[0] += 5.0  # the kernel sat idle: an answer would have been handled by now
    events.fire("pre_run_cell")
    assert capsys.readouterr().out.count("view.png is still waiting for the view") == 1
    events.fire("post_execute")
    now[0] += 5.0
    events.fire("pre_run_cell")
    assert "still waiting" not in capsys.readouterr().out  # said once
    cam.close()


def test_problems_of_layers_whose_names_differ_in_digits_are_each_told(sent):
    """Layer names are not numbers to mask: 'blocks.10' ... 'blocks.13' are four problems."""
    cam = capture(sentrycam.Monitor(), sent)
    with pytest.warns(SentrycamWarning):
        for step in range(3):
            cam.log(step, {f"blocks.{10 + i}": np.full((4, 2), np.nan) for i in range(4)})
        cam.flush()
    told = [p for p in cam.problems if "non-finite" in p]
    assert {p.split("'")[1] for p in told} == {"blocks.10", "blocks.11", "blocks.12", "blocks.13"}
    assert len(told) == 12  # each layer's problem, at each of the three steps
