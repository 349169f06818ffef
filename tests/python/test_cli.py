"""The ``sentrycam`` command, run as installed (the console script), on real recordings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import sentrycam

JOB = Path(__file__).parent / "jobs" / "write_run.py"
COMMAND = shutil.which("sentrycam", path=str(Path(sys.executable).parent)) or "sentrycam"


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def collapsing(tmp_path_factory) -> Path:
    """A finished run whose layer collapses late (warning alerts, none critical)."""
    path = tmp_path_factory.mktemp("cli") / "collapse.arrows"
    subprocess.run([sys.executable, str(JOB), str(path), "40", "0"], check=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "healthy.arrows"
    rng = np.random.default_rng(0)
    base = rng.normal(size=(32, 6))
    with sentrycam.Monitor(record=path) as cam:
        for i in range(40):
            x = base + 0.01 * rng.normal(size=base.shape)
            cam.log(i * 10, {"h": x, "g": np.tanh(x)}, labels=np.arange(32) % 4, loss=1 / (i + 1))
    return path


def test_info_tells_layers_frames_steps_points_alerts_size(collapsing, healthy):
    out = run("info", healthy)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "complete" in text and "80 (40 captures, steps 0..390)" in text
    assert "h " in text and "g " in text and "32 points" in text and "d=6" in text
    assert "alerts     0" in text and "scalars    loss" in text
    facts = json.loads(run("info", collapsing, "--json").stdout)
    assert facts["frames"] == 40 and facts["layers"][0]["name"] == "h" and facts["ended"]
    assert facts["alerts"].get("warning", 0) >= 1 and "critical" not in facts["alerts"]
    assert facts["bytes"] == sum(f.nbytes for f in sentrycam.read_recording(collapsing))


def test_alerts_fail_on_sets_the_exit_status(collapsing, healthy):
    out = run("alerts", collapsing)
    assert out.returncode == 0 and "warning" in out.stdout
    assert "h  eff_rank (robust), same incident" in out.stdout, out.stdout  # the rank collapse
    assert run("alerts", collapsing, "--fail-on", "warning").returncode == 1
    assert run("alerts", collapsing, "--fail-on", "critical").returncode == 0  # warnings only
    quiet = run("alerts", healthy, "--fail-on", "warning")
    assert quiet.returncode == 0 and quiet.stdout == "" and "0 alert(s)" in quiet.stderr
    lines = run("alerts", collapsing, "--json").stdout.splitlines()
    assert lines and all(json.loads(line)["severity"] == "warning" for line in lines)


def test_export_writes_the_standalone_page(collapsing, tmp_path):
    page = tmp_path / "run.html"
    out = run("export", collapsing, "-o", page)
    assert out.returncode == 0 and "40 frames" in out.stdout
    text = page.read_text()
    assert "sentrycam-bundle" in text and "sentrycam-data" in text and len(text) > 100_000


def test_watch_follows_a_running_job_and_ends_with_it(tmp_path):
    path = tmp_path / "live.arrows"
    job = subprocess.Popen([sys.executable, str(JOB), str(path), "30", "0.1"])
    out = run("watch", path, "--poll", "0.2", "--fail-on", "warning", timeout=120)
    job.wait(timeout=60)
    assert out.returncode == 1  # the collapse raised warnings
    lines = out.stdout.splitlines()
    progress = [line for line in lines if line.startswith("step ") and "frames" in line]
    assert len(progress) >= 3, out.stdout  # frames came in several polls: it followed
    assert any("warning" in line and "  h  " in line for line in lines)  # the collapsing layer
    assert lines[-1].startswith("the run ended (30 frames")


def test_watch_timeout_and_missing_run(tmp_path):
    out = run("watch", tmp_path / "never.arrows", "--timeout", "1", "--poll", "0.2")
    assert out.returncode == 3 and "waiting for" in out.stdout  # 3: the run had not ended
    assert "the run had not ended" in out.stdout


def test_a_network_failure_is_a_plain_error_not_a_traceback():
    out = run("alerts", "http://127.0.0.1:9/run.arrows", "--fail-on", "critical")
    assert out.returncode == 2 and out.stderr.startswith("sentrycam: ")
    assert "Traceback" not in out.stderr


def test_unreadable_recordings_get_plain_errors(tmp_path, collapsing):
    missing = run("info", tmp_path / "nope.arrows")
    assert missing.returncode == 2 and "no recording at" in missing.stderr
    empty = tmp_path / "empty.arrows"
    empty.write_bytes(b"")
    out = run("info", empty)
    assert out.returncode == 2 and "is empty: no frame was recorded" in out.stderr
    foreign = tmp_path / "notes.arrows"
    foreign.write_text("hello, this is not Arrow\n" * 10)
    out = run("alerts", foreign)
    assert out.returncode == 2 and "not a sentrycam recording" in out.stderr
    other_arrow = tmp_path / "other.arrows"
    sink = pa.BufferOutputStream()
    table = pa.table({"a": [1, 2, 3]})
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    other_arrow.write_bytes(sink.getvalue().to_pybytes())
    out = run("info", other_arrow)
    assert out.returncode == 2 and "no 'sentrycam' metadata" in out.stderr
    truncated = tmp_path / "cut.arrows"
    truncated.write_bytes(collapsing.read_bytes()[:-300])
    out = run("info", truncated, "--json")
    assert out.returncode == 0 and "corrupt or truncated" in out.stderr
    assert json.loads(out.stdout)["frames"] == 39


@pytest.mark.parametrize("command", ["info", "alerts", "export", "watch"])
def test_every_command_has_help(command):
    out = run(command, "--help")
    assert out.returncode == 0 and f"usage: sentrycam {command}" in out.stdout
    assert "RUN" in out.stdout


def test_no_command_says_what_there_is():
    out = run()
    assert out.returncode == 2 and "info" in out.stderr and "watch" in out.stderr
