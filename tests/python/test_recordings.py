"""Recordings anywhere: one file, local segments, object stores (memory://, a real S3 server on
loopback), crash safety under SIGKILL, following a run with ``watch``, and recordings as tables."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pytest

import sentrycam
import sentrycam.recording._record as record
from sentrycam.contract import PROTOCOL_VERSION

JOB = Path(__file__).parent / "jobs" / "write_run.py"


def log_run(target, captures=6, layers=("h",), seed=0):
    rng = np.random.default_rng(seed)
    cam = sentrycam.Monitor(record=target)
    for i in range(captures):
        cam.log(i, {name: rng.normal(size=(10, 4)) for name in layers}, loss=float(i))
    cam.close()
    return cam


def pyarrow_frames(data: bytes) -> list[pa.Table]:
    """Every IPC stream in ``data``, read with pyarrow alone."""
    reader, tables = pa.BufferReader(data), []
    while reader.tell() < len(data):
        tables.append(pa.ipc.open_stream(reader).read_all())
    return tables


def start_job(target, captures, delay, *extra, env=None):
    return subprocess.Popen(
        [sys.executable, str(JOB), str(target), str(captures), str(delay), *extra],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def written(job) -> list[tuple[int, float]]:
    """(frames, time) lines a job printed so far (reads until it blocks: call after it exited,
    or read lines one by one)."""
    return [(int(n), float(t)) for _, n, t in (line.split() for line in job.stdout)]


def failing_store(monkeypatch, name, failures, error):
    """A ``memory://`` recording URL (and its filesystem) whose first ``failures`` segment
    uploads raise ``ConnectionError(error)``; every one of them with ``failures=None``."""
    url = f"memory://sentrycam-test/{time.monotonic_ns()}/{name}"
    fs = fsspec.filesystem("memory")
    real_pipe, left = fs.pipe_file, [failures]

    def pipe(path, data, **kw):
        if "part-" in path and (left[0] is None or left[0] > 0):
            if left[0] is not None:
                left[0] -= 1
            raise ConnectionError(error)
        return real_pipe(path, data, **kw)

    monkeypatch.setattr(fs, "pipe_file", pipe)
    return url, fs


# ---- layouts ---------------------------------------------------------------------------------


def test_one_file_stays_plain_arrow_and_gets_an_end_marker(tmp_path):
    path = tmp_path / "run.arrows"
    cam = sentrycam.Monitor(record=path)
    cam.log(0, {"h": np.ones((3, 2))})
    cam.flush()
    assert not (tmp_path / "run.arrows.end.json").exists()  # open: no end yet
    cam.log(1, {"h": np.ones((3, 2))})
    cam.close()
    tables = pyarrow_frames(path.read_bytes())
    assert [json.loads(t.schema.metadata[b"sentrycam"])["step"] for t in tables] == [0, 1]
    assert json.loads((tmp_path / "run.arrows.end.json").read_text())["frames"] == 2
    log_run(path, captures=3)  # a new run replaces the old one, marker included
    assert [f.step for f in sentrycam.read_recording(path)] == [0, 1, 2]


def test_local_segments_roll_and_each_is_plain_arrow(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "SEGMENT_FRAMES", 4)
    folder = tmp_path / "run"
    log_run(f"{folder}/", captures=5, layers=("a", "b"))  # 10 frames: 4 + 4 + 2
    parts = sorted(p.name for p in folder.glob("part-*.arrows"))
    assert parts == ["part-000000.arrows", "part-000001.arrows", "part-000002.arrows"]
    counts = [len(pyarrow_frames((folder / p).read_bytes())) for p in parts]
    assert counts == [4, 4, 2]
    frames = sentrycam.read_recording(folder)
    assert [(f.step, f.layer) for f in frames] == [(s, n) for s in range(5) for n in "ab"]
    assert (folder / "end.json").exists()
    log_run(folder, captures=1)  # a folder of segments stays one (no "/" needed); old parts go
    assert sorted(p.name for p in folder.glob("part-*")) == ["part-000000.arrows"]


def test_object_store_segments_are_uploaded_whole_by_time(monkeypatch):
    monkeypatch.setattr(record, "SEGMENT_SECONDS", 0.2)
    url = f"memory://sentrycam-test/{time.monotonic_ns()}/run"
    fs = fsspec.filesystem("memory")
    cam = sentrycam.Monitor(record=url)
    cam.log(0, {"h": np.ones((3, 2))})
    cam.flush()
    assert fs.ls(url.removeprefix("memory://")) == []  # still in the open segment
    deadline = time.monotonic() + 5
    while not fs.ls(url.removeprefix("memory://")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p.rsplit("/", 1)[-1] for p in fs.ls(url.removeprefix("memory://"), detail=False)] == [
        "part-000000.arrows"
    ]
    cam.log(1, {"h": np.ones((3, 2))})
    cam.close()  # uploads the open segment, then the end marker
    assert [f.step for f in sentrycam.read_recording(url)] == [0, 1]
    assert fs.exists(url.removeprefix("memory://") + "/end.json")


def test_a_failed_upload_keeps_its_frames_and_says_so(monkeypatch):
    monkeypatch.setattr(record, "SEGMENT_SECONDS", 0.05)
    monkeypatch.setattr(record, "UPLOAD_RETRY_S", 0.1)
    url, _ = failing_store(monkeypatch, "flaky", 2, "the network is down")
    cam = sentrycam.Monitor(record=url)
    with pytest.warns(sentrycam.SentrycamWarning, match="upload failed .the network is down"):
        for step in range(4):
            cam.log(step, {"h": np.full((3, 2), step, dtype=np.float32)})
            cam.flush()
            time.sleep(0.15)
        cam.close()
    assert any("kept in memory and the upload is retried" in p for p in cam.problems)
    assert [f.step for f in sentrycam.read_recording(url)] == [0, 1, 2, 3]  # nothing lost


def test_unknown_protocol_and_missing_folder_are_clear():
    with pytest.raises(ValueError, match="fsspec has no working filesystem"):
        sentrycam.Monitor(record="nosuchproto://bucket/run")
    with pytest.raises(ValueError, match="does not exist"):
        sentrycam.Monitor(record="/no/such/folder/run.arrows")


# ---- crash safety ----------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["file", "folder"])
def test_sigkill_loses_nothing_flushed_on_a_local_disk(tmp_path, layout):
    target = tmp_path / "run.arrows" if layout == "file" else f"{tmp_path / 'run'}/"
    job = start_job(target, 1000, 0.01, "--no-close")
    seen = 0
    for line in job.stdout:
        seen = int(line.split()[1])
        if seen >= 25:
            break
    job.send_signal(signal.SIGKILL)
    job.wait()
    frames = sentrycam.read_recording(target)
    assert len(frames) >= seen  # every frame reported flushed survived
    assert [f.step for f in frames] == [10 * i for i in range(len(frames))]


# ---- a real S3-compatible server on loopback -------------------------------------------------


@pytest.fixture(scope="module")
def s3():
    moto_server = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "test", "secret": "test"}
    env = {"FSSPEC_S3": json.dumps(options), "AWS_DEFAULT_REGION": "us-east-1"}
    old = fsspec.config.conf.get("s3")
    fsspec.config.conf["s3"] = options  # this process; subprocesses get env
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
    fs.mkdir("runs")
    yield env
    if old is None:
        fsspec.config.conf.pop("s3", None)
    else:
        fsspec.config.conf["s3"] = old
    server.stop()


def test_s3_recording_survives_sigkill_but_the_open_segment(s3):
    url = "s3://runs/killed"
    job = start_job(url, 1000, 0.02, "--no-close", env=s3)
    lines = []
    for line in job.stdout:
        lines.append((int(line.split()[1]), float(line.split()[2])))
        if time.time() - lines[0][1] > 3.5:  # several segments rolled (one a second)
            break
    job.send_signal(signal.SIGKILL)
    killed_at = time.time()
    job.wait()
    frames = sentrycam.read_recording(url)
    assert [f.step for f in frames] == [10 * i for i in range(len(frames))]  # a clean prefix
    # Lost: only frames of the open segment, which is at most SEGMENT_SECONDS (+ upload) old.
    recent = [n for n, t in lines if t > killed_at - record.SEGMENT_SECONDS - 1.0]
    assert len(frames) >= (min(recent) - 1 if recent else lines[-1][0])
    assert len(frames) >= 10


def test_watch_follows_a_job_writing_to_s3(s3):
    url = "s3://runs/followed"
    job = start_job(url, 24, 0.15, env=s3)
    cam = sentrycam.watch(url, poll=0.2)
    counts = []
    deadline = time.monotonic() + 60
    while job.poll() is None and time.monotonic() < deadline:
        counts.append(len(cam.frames))
        time.sleep(0.3)
    lines = written(job)
    deadline = time.monotonic() + 10
    while cam.stats["watch"]["state"] != "ended" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(cam.frames) == 24 and cam.stats["watch"]["state"] == "ended"
    growing = [c for c in counts if 0 < c < 24]
    assert len(set(growing)) >= 2, counts  # seen growing while the job ran
    (follower,) = [t for t in threading.enumerate() if t.name == "sentrycam-watch"]
    shown = follower.shown
    lags = [next(t for k, t in shown if k >= n) - at for n, at in lines]
    lag = float(np.median(lags))
    print(f"S3 watch lag written -> followed: median {lag:.2f} s, max {max(lags):.2f} s")
    assert lag < 2.5  # one segment roll (1 s) plus a poll
    cam.close()


# ---- watch -----------------------------------------------------------------------------------


def test_watch_follows_a_run_sees_its_end_and_a_restart(tmp_path):
    path = tmp_path / "run.arrows"
    job = start_job(path, 30, 0.05)
    t0 = time.monotonic()
    cam = sentrycam.watch(path, poll=0.1)
    assert time.monotonic() - t0 < 1.0  # returns at once: the kernel stays free
    counts = []
    while job.poll() is None:
        counts.append(len(cam.frames))
        time.sleep(0.1)
    deadline = time.monotonic() + 10
    while cam.stats["watch"]["state"] != "ended" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cam.stats["watch"]["state"] == "ended" and len(cam.frames) == 30
    assert len({c for c in counts if 0 < c < 30}) >= 3, counts
    assert cam.layers == ["h"]
    live = log_alerts(path)
    assert [(a.step, a.metric) for a in cam.alerts] == live and live  # recomputed, same alerts
    start_job(path, 5, 0.0).wait()  # the same path, a new run
    deadline = time.monotonic() + 10
    while len(cam.frames) < 35 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(cam.frames) == 35 and cam.stats["watch"]["restarts"] == 1
    seqs = [f.seq for f in cam.frames]
    assert seqs == sorted(set(seqs))  # the new run's frames got later seqs: views keep them
    assert [f.step for f in cam.frames[-5:]] == [0, 10, 20, 30, 40]
    cam.close()
    time.sleep(0.6)
    assert not cam.stats["watch"]["running"]


def log_alerts(path):
    return [(a.step, a.metric) for a in sentrycam.Monitor.replay(path).alerts]


def test_watch_waits_for_a_recording_that_does_not_exist_yet(tmp_path):
    path = tmp_path / "later.arrows"
    cam = sentrycam.watch(path, poll=0.1)
    time.sleep(0.3)
    assert cam.frames == [] and cam.stats["watch"]["running"]
    log_run(path, captures=3)
    deadline = time.monotonic() + 10
    while len(cam.frames) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [f.step for f in cam.frames] == [0, 1, 2]
    cam.close()


# ---- recordings as data ----------------------------------------------------------------------


def test_read_table_and_read_metrics_query_with_duckdb(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "run.arrows"
    rng = np.random.default_rng(0)
    with sentrycam.Monitor(record=path) as cam:
        for step in range(4):
            cam.log(
                step * 5,
                {"wide": rng.normal(size=(12, 8)), "narrow": rng.normal(size=(12, 3))},
                labels=np.arange(12) % 3,
                loss=1.0 / (step + 1),
            )
    table = sentrycam.read_table(path)
    assert table.column_names == ["step", "layer", "seq", "id", "label", "pred", "x", "group"]
    assert table.num_rows == 4 * 2 * 12
    metrics = sentrycam.read_metrics(path)
    assert metrics.column_names == ["step", "layer", "metric", "value"]
    tbl = table  # noqa: F841 - DuckDB reads local Arrow tables by their variable name
    rows = duckdb.sql(
        "select layer, min(len(x)), max(len(x)), count(*) from tbl group by layer order by layer"
    ).fetchall()
    assert rows == [("narrow", 3, 3, 48), ("wide", 8, 8, 48)]
    first = cam.frames[0]
    x0 = duckdb.sql("select x from tbl where seq = 0 and id = 0").fetchall()[0][0]
    np.testing.assert_allclose(x0, first.x[0], rtol=1e-6)
    m = metrics  # noqa: F841
    loss = duckdb.sql(
        "select step, value from m where metric = 'loss' and layer is null order by step"
    ).fetchall()
    assert loss == [(0, 1.0), (5, 0.5), (10, pytest.approx(1 / 3)), (15, 0.25)]
    ranks = duckdb.sql(
        "select count(*) from m where metric = 'eff_rank' and layer = 'wide'"
    ).fetchall()[0][0]
    assert ranks == 4
    got = duckdb.sql(
        "select value from m where metric = 'eff_rank' and layer = 'narrow' and step = 15"
    ).fetchall()[0][0]
    last_narrow = [f for f in cam.frames if f.layer == "narrow"][-1]
    assert np.isfinite(got) and got == pytest.approx(last_narrow.metrics["eff_rank"])


def test_an_upload_that_never_succeeds_is_reported_at_close_not_raised(monkeypatch):
    monkeypatch.setattr(record, "UPLOAD_RETRY_S", 0.05)
    url, _ = failing_store(monkeypatch, "down", None, "no route to host")
    cam = sentrycam.Monitor(record=url)
    cam.log(0, {"h": np.ones((3, 2))})
    with pytest.warns(sentrycam.SentrycamWarning, match="could not be uploaded .no route to host"):
        cam.close()  # the training script ends normally
    assert cam.closed


# ---- races between a writer and a follower (found in review) ---------------------------------


@pytest.mark.parametrize("layout", ["file", "folder"])
def test_a_run_closing_between_listing_and_end_check_loses_no_frame(tmp_path, layout):
    from sentrycam.recording import RunFollower

    target = tmp_path / "run.arrows" if layout == "file" else f"{tmp_path / 'run'}/"
    cam = sentrycam.Monitor(record=target)

    def log(i):
        cam.log(i * 10, {"h": np.full((4, 3), i, dtype=np.float32)}, loss=1.0)
        cam.flush()

    for i in range(3):
        log(i)
    follower = RunFollower(target)
    assert len(follower.poll().frames) == 3
    listing = follower.tail._listing

    def racing():
        got = listing()
        follower.tail._listing = listing
        for i in range(3, 6):  # the writer goes on after the listing ...
            log(i)
        cam.close()  # ... and closes before the follower looks for the end marker
        return got

    follower.tail._listing = racing
    update = follower.poll()
    assert [f.step for f in update.frames] == [30, 40, 50] and update.ended["frames"] == 6
    again = follower.poll()
    assert again.frames == [] and not again.restarted and follower.restarts == 0


def test_a_segment_listed_mid_write_is_read_again_not_skipped(tmp_path, monkeypatch):
    from sentrycam.recording import Piece, RecordingTail

    monkeypatch.setattr(record, "SEGMENT_FRAMES", 4)
    target = f"{tmp_path / 'run'}/"
    cam = sentrycam.Monitor(record=target)  # still open: no end marker yet
    for i in range(10):
        cam.log(i, {"h": np.full((4, 3), i, dtype=np.float32)})
    cam.flush()
    tail = RecordingTail(target)
    listing = tail._listing

    def stale():  # part-000000's last frame was half written when it was listed
        pieces = listing()
        pieces[0] = Piece(pieces[0].path, pieces[0].size - 100, 0)
        return pieces

    tail._listing = stale
    first = tail.poll()
    tail._listing = listing
    second = tail.poll()
    steps = [f.step for f in first.frames + second.frames]
    assert steps == list(range(10)) and first.truncated is None and second.truncated is None
    assert [f.step for f in first.frames] == [0, 1, 2]  # stopped at the stale segment, waited
    cam.close()


def test_the_end_marker_counts_frames_kept_through_failed_uploads(monkeypatch):
    monkeypatch.setattr(record, "SEGMENT_SECONDS", 0.02)
    monkeypatch.setattr(record, "UPLOAD_RETRY_S", 0.05)
    url, fs = failing_store(monkeypatch, "count", 3, "timeout")
    cam = sentrycam.Monitor(record=url)
    with pytest.warns(sentrycam.SentrycamWarning):
        for step in range(8):
            cam.log(step, {"h": np.ones((3, 2))})
            cam.flush()
            time.sleep(0.05)
        cam.close()
    end = json.loads(fs.cat_file(url.removeprefix("memory://") + "/end.json"))
    assert end["frames"] == 8 == len(sentrycam.read_recording(url))


def test_watch_runs_on_alert_functions_and_tells_late_views_the_run_ended(tmp_path, sent):
    path = tmp_path / "run.arrows"
    subprocess.run([sys.executable, str(JOB), str(path), "40", "0"], check=True, timeout=120)
    cam = sentrycam.watch(path, poll=0.1)
    called = []
    cam.on_alert(called.append)
    deadline = time.monotonic() + 20
    while cam.stats["watch"]["state"] != "ended" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cam.alerts and [a.step for a in called] == [a.step for a in cam.alerts]
    cam.send = sent  # a view displayed after the run ended says hello
    cam._handle_message(
        cam, {"type": "hello", "view": "late", "have": [], "protocol": PROTOCOL_VERSION}, []
    )
    notices = [m for m, _ in sent.of_type("notice")]
    assert notices and notices[-1]["level"] == "info" and "the run ended" in notices[-1]["text"]
    assert len(sent.frame_seqs()) == 40
    cam.close()


def test_following_a_long_segment_folder_does_not_list_it_every_poll(tmp_path, monkeypatch):
    from sentrycam.recording._readback import FULL_LISTING_EVERY, RecordingTail

    monkeypatch.setattr(record, "SEGMENT_FRAMES", 1)  # a segment per frame: a long run's folder
    target = f"{tmp_path / 'run'}/"
    cam = sentrycam.Monitor(record=target)

    def log(i):
        cam.log(i, {"h": np.full((4, 3), i, dtype=np.float32)})
        cam.flush()

    for i in range(60):
        log(i)
    tail = RecordingTail(target)
    assert len(tail.poll().frames) == 60
    fs, listings = tail.location.fs, []
    real_ls = fs.ls
    monkeypatch.setattr(fs, "ls", lambda *a, **k: listings.append(a) or real_ls(*a, **k))
    seen = []
    for i in range(60, 60 + FULL_LISTING_EVERY - 2):
        log(i)
        seen += [f.step for f in tail.poll().frames]
    assert seen == list(range(60, 60 + FULL_LISTING_EVERY - 2)) and listings == []
    for _ in range(3):
        tail.poll()
    assert listings  # the whole folder is listed now and then (vanished files, restarts)
    cam.close()
    log_run(target, captures=2, seed=7)  # a new run replaces this one
    restarted = [tail.poll() for _ in range(FULL_LISTING_EVERY + 1)]
    assert any(p.restarted for p in restarted)
    assert [f.step for p in restarted for f in p.frames] == [0, 1]
