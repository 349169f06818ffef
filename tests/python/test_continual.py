"""Continual learning: task boundaries, groups of samples, per-group metrics, forgetting alerts.

The forgetting runs are real: an MLP trained on scikit-learn's digits 0-4, then on digits 5-9.
"""

from __future__ import annotations

import base64
import json
import math
import time
import warnings

import numpy as np
import pyarrow as pa
import pytest
import torch
from conftest import capture
from jobs.split_digits import split_digits_run

import sentrycam
from sentrycam import SentrycamWarning, cli
from sentrycam.base import group_metric_name, split_group_metric
from sentrycam.contract import GROUP_METRICS
from sentrycam.wire import decode_frame, encode_frame

# ---- task boundaries ----------------------------------------------------------------------------


def test_task_marks_a_boundary_at_the_last_step_and_tells_the_views(sent):
    cam = capture(sentrycam.Monitor(sync=True), sent)
    cam.task("warm-up")  # before any step: step 0
    cam.log(0, {"h": np.ones((4, 2))})
    cam.log(7, {"h": np.ones((4, 2))})
    cam.task("0-4")
    cam.log(9, {"h": np.ones((4, 2))})
    cam.task(3)  # an integer task is named like an integer group
    assert cam.tasks == [
        {"step": 0, "name": "warm-up"},
        {"step": 7, "name": "0-4"},
        {"step": 9, "name": "3"},
    ]
    told = [m["tasks"] for m, _ in sent.of_type("tasks")]
    assert told[-1] == cam.tasks and len(told) == 3
    frames = cam.frames
    assert [len(f.tasks) for f in frames] == [1, 1, 2]  # what was marked before each capture
    assert frames[-1].tasks == cam.tasks[:2]
    cam.tasks.append({"step": 1, "name": "x"})  # a copy: the monitor's list is unchanged
    assert len(cam.tasks) == 3
    with pytest.raises(TypeError, match="task's name"):
        cam.task(["not", "a", "name"])


def test_groups_and_tasks_round_trip_through_the_arrow_frame():
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    tasks = [{"step": 0, "name": "0-4"}, {"step": 120, "name": "5-9"}]
    data = encode_frame(
        seq=1,
        step=130,
        layer="h",
        x=x,
        ids=np.arange(5, dtype=np.int32),
        groups=np.array([0, 1, -1, 1, 0], dtype=np.int32),
        group_names=["0-4", "5-9"],
        tasks=tasks,
    )
    table = pa.ipc.open_stream(data).read_all()
    assert table.schema.names[-1] == "group" and table.schema.field("group").type == pa.int32()
    assert table.column("group").to_pylist() == [0, 1, None, 1, 0]
    assert list(table.schema.metadata) == [b"sentrycam"]
    meta = json.loads(table.schema.metadata[b"sentrycam"])
    assert meta["groups"] == ["0-4", "5-9"] and meta["tasks"] == tasks
    back = decode_frame(data)
    assert back.groups.tolist() == [0, 1, -1, 1, 0] and back.group_names == ["0-4", "5-9"]
    assert back.tasks == tasks


def test_frames_recorded_before_groups_existed_still_decode():
    x = np.ones((3, 2), dtype=np.float32)
    meta = {"version": 1, "seq": 0, "step": 5, "layer": "h", "scalars": {}, "metrics": {}}
    cols = [pa.array([0, 1, 2], pa.int32()), pa.nulls(3, pa.int32()), pa.nulls(3, pa.int32())]
    cols.append(pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 2))
    names = ["id", "label", "pred", "x"]
    schema = pa.schema(
        [pa.field(n, c.type) for n, c in zip(names, cols, strict=True)],
        metadata={b"sentrycam": json.dumps(meta).encode()},
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(pa.RecordBatch.from_arrays(cols, schema=schema))
    old = decode_frame(sink.getvalue().to_pybytes())
    assert old.groups is None and old.group_names == [] and old.tasks == []
    assert old.step == 5 and old.n == 3


# ---- groups -------------------------------------------------------------------------------------


def test_probe_groups_integers_sorted_strings_in_order_of_appearance(mlp, probe):
    x, y = probe
    ints = [3, 1] * 20
    cam = sentrycam.Monitor(mlp, layers=["act1"], probe=(x, y, ints), every=1, sync=True)
    cam.step(0)
    frame = cam.frames[0]
    assert frame.group_names == ["1", "3"] and frame.groups.tolist() == [1, 0] * 20
    assert {"accuracy@1", "accuracy@3", "separation@1", "cka_task_end@3"} <= set(frame.metrics)
    strings = np.array(["b", "a"] * 20)
    cam = sentrycam.Monitor(mlp, layers=["act1"], probe=(x, y, strings), every=1, sync=True)
    cam.step(0)
    assert cam.frames[0].group_names == ["b", "a"] and cam.frames[0].groups.tolist()[:2] == [0, 1]
    with pytest.raises(ValueError, match="probe groups: groups has 39 entries but there are 40"):
        sentrycam.Monitor(mlp, layers=["act1"], probe=(x, y, ints[:39]))
    with pytest.raises(TypeError, match="integers or strings"):
        sentrycam.Monitor(mlp, layers=["act1"], probe=(x, y, [object()] * 40))


def test_log_groups_lists_arrays_tensors_and_bad_ones_reported_not_raised(sent):
    cam = capture(sentrycam.Monitor(sync=True), sent)
    rows = np.random.default_rng(0).normal(size=(6, 3))
    cam.log(0, {"h": rows}, labels=[0, 1, 0, 1, 0, 1], groups=["new", "old"] * 3)
    cam.log(1, {"h": rows}, groups=torch.tensor([1, 1, 0, 0, -1, 1]))  # -1: no group
    cam.log(2, {"h": rows}, groups=np.array([None, "old", "old", "new", "", "x"], dtype=object))
    with pytest.warns(SentrycamWarning, match="groups has 5 entries but there are 6 samples"):
        cam.log(3, {"h": rows}, groups=["a"] * 5)
    with pytest.warns(SentrycamWarning, match="integers or strings"):
        cam.log(4, {"h": rows}, groups=[1.5] * 6)
    frames = cam.frames
    assert len(frames) == 5  # every frame was sent, the bad ones without groups
    names = ["new", "old", "0", "1", "x"]  # one list for the run: codes stay comparable
    assert frames[0].groups.tolist() == [0, 1] * 3
    assert frames[1].groups.tolist() == [3, 3, 2, 2, -1, 3]
    assert frames[2].groups.tolist() == [-1, 1, 1, 0, -1, 4]
    assert frames[2].group_names == names
    assert frames[3].groups is None and frames[3].group_names == []
    assert frames[4].groups is None
    assert any("sent without groups" in p for p in cam.problems)


def test_class_names_are_a_synced_list_of_strings_and_selection_is_readable():
    cam = sentrycam.Monitor(class_names=["zero", "one"])
    assert cam.class_names == ["zero", "one"] and cam.selection == []
    state = cam.get_state()
    assert state["class_names"] == ["zero", "one"] and state["selection"] == []
    cam.selection = [3, 5]  # what a view writes
    assert cam.selection == [3, 5]
    assert sentrycam.Monitor(class_names=("a",)).class_names == ["a"]
    for bad in ("zero,one", [0, 1], ["a", None], 3):
        with pytest.raises(TypeError, match="class_names must be a list of strings"):
            sentrycam.Monitor(class_names=bad)


# ---- per-group metrics --------------------------------------------------------------------------


def _fisher_and_intra(x: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    classes = np.unique(labels)
    means = np.stack([x[labels == c].mean(0) for c in classes])
    centroid = means[np.searchsorted(classes, labels)]
    intra = float(np.mean(np.sum((x - centroid) ** 2, axis=1)))
    tr_sb = float(np.mean(np.sum((means - means.mean(0)) ** 2, axis=1)))
    return tr_sb / intra, intra


def _cka(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(0), b - b.mean(0)
    return float(np.linalg.norm(a.T @ b) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)))


def test_per_group_metrics_match_a_direct_numpy_computation():
    rng = np.random.default_rng(3)
    n = 24
    groups = np.array(["A"] * 12 + ["B"] * 12)
    labels = np.array([0, 1, 2] * 8)
    labels[5] = -1  # unlabelled: left out of the class geometry and the accuracy
    preds = labels.copy()
    preds[[0, 1, 13]] = (preds[[0, 1, 13]] + 1) % 3
    x0 = rng.normal(size=(n, 5)) + labels[:, None]
    x1 = x0 @ rng.normal(size=(5, 7))  # a new width: CKA compares any two widths
    x1[2, 4] = np.nan  # a non-finite row: out of the geometry, CKA on the other rows
    x2 = rng.normal(size=(n, 4))
    cam = sentrycam.Monitor(sync=True)
    cam.task("A")
    cam.log(0, {"h": x0}, labels=labels, preds=preds, groups=groups)
    cam.task("B")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SentrycamWarning)  # the NaN is reported
        cam.log(10, {"h": x1}, labels=labels, preds=preds, groups=groups)
    cam.task("C")
    cam.log(20, {"h": x2}, labels=labels, preds=preds, groups=groups)
    f0, f1, f2 = cam.frames
    a, b = groups == "A", groups == "B"
    keep = a & (labels >= 0)
    sep, intra = _fisher_and_intra(x0[keep], labels[keep])
    assert f0.metrics["separation@A"] == pytest.approx(sep, rel=1e-4)
    assert f0.metrics["intra_var@A"] == pytest.approx(intra, rel=1e-4)
    assert f0.metrics["accuracy@A"] == pytest.approx(9 / 11)  # 2 wrong of 11 labelled
    assert f0.metrics["accuracy@B"] == pytest.approx(11 / 12)
    assert math.isnan(f0.metrics["cka_task_end@A"])  # its task is the current one
    finite = np.isfinite(x1).all(1)
    keep1 = a & (labels >= 0) & finite
    sep1, intra1 = _fisher_and_intra(x1[keep1], labels[keep1])
    assert f1.metrics["separation@A"] == pytest.approx(sep1, rel=1e-4)
    assert f1.metrics["intra_var@A"] == pytest.approx(intra1, rel=1e-4)
    both = a & finite
    assert f1.metrics["cka_task_end@A"] == pytest.approx(_cka(x1[both], x0[both]), abs=1e-5)
    assert math.isnan(f1.metrics["cka_task_end@B"])  # B's task is the current one
    assert f2.metrics["cka_task_end@A"] == pytest.approx(_cka(x2[a], x0[a]), abs=1e-5)
    assert f2.metrics["cka_task_end@B"] == pytest.approx(_cka(x2[b], x1[b]), abs=1e-5)
    one_class = sentrycam.Monitor(sync=True)
    one_class.log(0, {"h": x0}, labels=np.zeros(n, dtype=int), groups=groups)
    frame = one_class.frames[0]
    assert math.isnan(frame.metrics["separation@A"]) and frame.metrics["intra_var@A"] > 0
    assert math.isnan(frame.metrics["accuracy@A"])  # no predictions


def test_group_metric_names_come_from_one_helper():
    assert GROUP_METRICS == ("separation", "intra_var", "accuracy", "cka_task_end")
    assert group_metric_name("accuracy", "0-4") == "accuracy@0-4"
    assert split_group_metric("cka_task_end@a@b") == ("cka_task_end", "a@b")
    assert split_group_metric("val_acc") is None and split_group_metric("loss@x") is None


# ---- forgetting on split digits -----------------------------------------------------------------


def _forgetting(alerts):
    return [a for a in alerts if a.metric.startswith("forgetting")]


@pytest.fixture(scope="module")
def forgetting_run(tmp_path_factory, one_torch_thread):
    path = tmp_path_factory.mktemp("continual") / "split.arrows"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SentrycamWarning)
        return split_digits_run(record=path), path


def test_forgetting_without_rehearsal_raises_an_alert_with_evidence(forgetting_run):
    cam, _ = forgetting_run
    boundary = cam.tasks[1]["step"]
    assert cam.tasks == [{"step": 0, "name": "0-4"}, {"step": 249, "name": "5-9"}]
    alerts = _forgetting(cam.alerts)
    assert alerts and all(a.step > boundary for a in alerts)
    acc = [a for a in alerts if a.metric == "forgetting_accuracy@0-4"]
    assert len(acc) == 1  # one alert per episode, although the accuracy stays down
    alert = acc[0]
    assert alert.layer is None and alert.rule == "forgetting" and alert.severity == "critical"
    ev = alert.evidence
    assert ev["kind"] == "forgetting" and ev["direction"] == -1 and ev["group"] == "0-4"
    assert ev["task"] == "0-4" and ev["task_end"] == 240 and ev["window"][1] == 240
    assert ev["reference"] > 0.9 and ev["threshold"] <= ev["reference"] - 0.15
    assert alert.value < ev["threshold"] and ev["values"][-1] == alert.value
    assert ev["steps"][-1] == alert.step and ev["spread"] >= 0
    assert "'0-4'" in alert.message and "'5-9'" in alert.message
    assert "replay" in alert.message and "EWC" in alert.message
    assert not any(a.metric.startswith("forgetting") and a.metric.endswith("5-9") for a in alerts)
    for a in alerts:
        if a.metric.startswith("forgetting_cka"):
            assert a.layer in ("act1", "act2") and a.severity == "warning"
            assert a.value < a.evidence["threshold"] == 0.6
    assert sorted(cam.frames[0].group_names) == ["0-4", "5-9"]


def test_forgetting_alerts_replay_from_the_recording(forgetting_run, tmp_path, capsys):
    cam, path = forgetting_run
    live = [(a.step, a.layer, a.metric, a.severity) for a in cam.alerts]
    frames = sentrycam.read_recording(path)
    assert frames[-1].tasks == cam.tasks and frames[0].tasks == cam.tasks[:1]
    replayed = sentrycam.Monitor.replay(path)
    assert replayed.tasks == cam.tasks
    assert [(a.step, a.layer, a.metric, a.severity) for a in replayed.alerts] == live
    assert cli.main(["alerts", str(path), "--fail-on", "warning"]) == 1
    capsys.readouterr()
    assert cli.main(["info", str(path)]) == 0
    assert "tasks      0-4 (step 0), 5-9 (step 249)" in capsys.readouterr().out
    table = sentrycam.read_table(path)
    assert table.column_names[-1] == "group"
    assert set(table.column("group").to_pylist()) == {"0-4", "5-9"}
    metrics = sentrycam.read_metrics(path).to_pylist()
    assert {m["metric"] for m in metrics} >= {"accuracy@0-4", "cka_task_end@0-4"}
    page = cam.save_html(tmp_path / "run.html").read_text()
    data = page.split('id="sentrycam-data">')[1].split("</script>")[0]
    data = json.loads(data)
    assert data["tasks"] == cam.tasks
    last = decode_frame(base64.b64decode(data["frames"][-1]))
    assert last.tasks == cam.tasks and last.group_names == cam.frames[-1].group_names
    exported = tmp_path / "cli.html"
    assert cli.main(["export", str(path), "-o", str(exported)]) == 0
    assert '"tasks": [{"step": 0, "name": "0-4"}, {"step": 249' in exported.read_text()


def test_watch_restores_the_tasks_of_a_followed_run(forgetting_run):
    cam, path = forgetting_run
    follower = sentrycam.watch(path, poll=0.05)
    deadline = time.monotonic() + 10
    while len(follower.frames) < len(cam.frames) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert follower.tasks == cam.tasks
    assert [a.metric for a in _forgetting(follower.alerts)] == [
        a.metric for a in _forgetting(cam.alerts)
    ]
    follower.close()


@pytest.mark.parametrize(
    "setting",
    [{"rehearsal": True}, {"mark_tasks": False}],
    ids=["rehearsal", "no-tasks"],
)
def test_no_forgetting_alert_on_healthy_runs(setting, one_torch_thread):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SentrycamWarning)
        cam = split_digits_run(**setting)
    assert _forgetting(cam.alerts) == []
    last = cam.frames[-1].metrics
    if setting.get("rehearsal"):  # the old group kept what it learnt
        assert last["accuracy@0-4"] > 0.8 and last["cka_task_end@0-4"] > 0.6
    else:
        assert cam.tasks == [] and math.isnan(last["cka_task_end@0-4"])
        assert last["accuracy@0-4"] < 0.2  # it did forget: without tasks nothing is judged


def test_on_alert_sees_the_forgetting_alert_during_training(one_torch_thread):
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SentrycamWarning)
        cam = sentrycam.Monitor(sync=True)
        cam.on_alert(seen.append)
        rng = np.random.default_rng(0)
        labels = np.arange(40) % 4
        groups = ["old"] * 20 + ["new"] * 20
        right = labels.copy()
        wrong = (labels + 1) % 4
        cam.task("old")
        for step in range(0, 200, 10):
            cam.log(step, {"h": rng.normal(size=(40, 3))}, labels, right, groups=groups)
        cam.task("new")
        for step in range(200, 400, 10):
            preds = np.where(np.array(groups) == "old", wrong, right)
            cam.log(step, {"h": rng.normal(size=(40, 3))}, labels, preds, groups=groups)
    names = [a.metric for a in seen]
    assert "forgetting_accuracy@old" in names
    alert = next(a for a in seen if a.metric == "forgetting_accuracy@old")
    assert alert.step == 250  # below from step 200: 50 steps (and 6 captures) later


def _feed(engine, accuracy, *, boundary=200, every=10, start=0):
    """Feed ``accuracy@old`` per capture (tasks "old", then "new" from ``boundary``)."""
    tasks = [{"step": 0, "name": "old"}]
    out = []
    for i, value in enumerate(accuracy):
        step = start + i * every
        seen = [*tasks, {"step": boundary, "name": "new"}] if step > boundary else tasks
        metrics = {"accuracy@old": value, "accuracy@new": 0.0}
        out += engine.update(step, "h", metrics, tasks=seen)
    return [a for a in out if a.metric.startswith("forgetting")]


def test_the_forgetting_rule_waits_out_the_stability_gap_and_one_alert_per_episode():
    before = [0.95] * 21  # steps 0..200, its task
    gap = [0.5, 0.6, 0.8, 0.93, 0.94] + [0.95] * 30  # a dip that recovers within 30 steps
    assert _feed(sentrycam.AlertEngine(), before + gap) == []
    forgot = [0.5, 0.3] + [0.1] * 40
    alerts = _feed(sentrycam.AlertEngine(), before + forgot)
    assert [(a.step, a.metric, a.severity) for a in alerts] == [
        (260, "forgetting_accuracy@old", "critical")  # below from 210: 50 steps
    ]
    assert alerts[0].evidence["reference"] == 0.95 and alerts[0].evidence["window"] == [160, 200]
    mild = _feed(sentrycam.AlertEngine(), before + [0.7] * 20)
    assert [a.severity for a in mild] == ["warning"]  # lost less than half of 0.95
    assert _feed(sentrycam.AlertEngine(forgetting=False), before + forgot) == []
    engine = sentrycam.AlertEngine()
    _feed(engine, before + forgot)
    again = _feed(engine, before + forgot)  # steps went back: a new run, a new episode
    assert [a.step for a in again] == [260]


def test_string_groups_are_matched_with_tasks_by_name_only():
    """Groups named unlike the tasks (listed in another order) are not judged against them."""
    from sentrycam.base import task_of

    tasks = [{"step": 0, "name": "A"}, {"step": 300, "name": "B"}]
    assert task_of("A", tasks) == 0 and task_of("B", tasks) == 1
    assert task_of("task B samples", tasks) is None
    assert task_of("task A samples", tasks) is None
    assert task_of("0", tasks) == 0 and task_of("1", tasks) == 1, "integer groups: in order"
    assert task_of("2", tasks) is None


def test_more_groups_than_the_cap_are_a_problem_not_an_error(recwarn):
    from sentrycam.base import MAX_GROUPS

    cam = sentrycam.Monitor()
    x = np.zeros((MAX_GROUPS + 5, 4), dtype=np.float32)
    cam.log(0, {"h": x}, groups=np.arange(MAX_GROUPS + 5))  # one group per sample: a mistake
    cam.log(1, {"h": x}, groups=np.arange(MAX_GROUPS + 5) % 2)
    frames = cam.frames
    assert frames[0].groups is None and frames[1].group_names == ["0", "1"]
    assert any("more than" in p and str(MAX_GROUPS) in p for p in cam.problems)
    cam.close()
