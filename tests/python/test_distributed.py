"""torch.distributed jobs: which rank captures, the sharded probe pass (FSDP), misconfigurations.

The rank detection and the single-process behaviour of each mode are tested in this process with
RANK/WORLD_SIZE set; the rest runs real two-process jobs, ``torchrun --nproc_per_node=2`` with gloo
on the CPU (tests/python/dist_scripts/dist_job.py), each under a timeout: a hang is a failure.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import run_torchrun
from torch import nn

import sentrycam
from sentrycam.capture import Cadence, Probe, resolve_layers
from sentrycam.capture._distributed import (
    DISTRIBUTED_MODES,
    GATHER_TIMEOUT_S,
    ProcessRank,
    process_rank,
)

JOB = Path(__file__).parent / "dist_scripts" / "dist_job.py"
JOB_TIMEOUT_S = 120  # a job that has not finished by then hangs


# ---- rank detection and each mode in one process ----------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ProcessRank(0, 1, False)),
        ({"RANK": "0", "WORLD_SIZE": "2"}, ProcessRank(0, 2, False)),
        ({"RANK": "3", "WORLD_SIZE": "4"}, ProcessRank(3, 4, False)),
        ({"RANK": "2"}, ProcessRank(2, 3, False)),  # a rank without a world size still counts
        ({"RANK": "5", "WORLD_SIZE": "2"}, ProcessRank(5, 6, False)),
        ({"RANK": "x", "WORLD_SIZE": "2"}, ProcessRank(0, 1, False)),
        ({"RANK": "-1", "WORLD_SIZE": "2"}, ProcessRank(0, 1, False)),
        ({"WORLD_SIZE": "2"}, ProcessRank(0, 1, False)),
        # Lightning's launcher sets no RANK until the process group exists
        ({"LOCAL_RANK": "1", "WORLD_SIZE": "2"}, ProcessRank(1, 2, False)),
        ({"LOCAL_RANK": "0", "NODE_RANK": "0", "WORLD_SIZE": "4"}, ProcessRank(0, 4, False)),
        ({"LOCAL_RANK": "1", "NODE_RANK": "1", "LOCAL_WORLD_SIZE": "2"}, ProcessRank(3, 4, False)),
        ({"LOCAL_RANK": "0", "NODE_RANK": "1", "WORLD_SIZE": "4"}, ProcessRank(1, 4, False)),
    ],
)
def test_the_rank_comes_from_torchrun_s_environment(env, expected):
    assert process_rank(env) == expected


def test_the_rank_is_read_from_the_environment_by_default(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert process_rank() == ProcessRank(1, 2, False)


@pytest.fixture
def rank1(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")


@pytest.fixture
def rank0(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")


def test_on_another_rank_than_0_nothing_is_captured_recorded_or_started(
    rank1, mlp, probe, tmp_path, sent
):
    hooks = []
    cam = sentrycam.Monitor(
        mlp, layers=["act1"], probe=probe, every=1, record=tmp_path / "run.arrows"
    )
    cam.send = sent
    mlp.act1.register_forward_pre_hook(lambda *_: hooks.append(1))
    for step in range(5):
        cam.step(step, loss=1.0)
    cam.log(5, {"h": np.ones((4, 3))})
    assert cam.frames == [] and cam.alerts == [] and hooks == []
    stats = cam.stats
    assert stats["captures"] == 0 and stats["frames_sent"] == 0
    assert (stats["distributed"], stats["rank"], stats["world_size"]) == ("rank0", 1, 2)
    assert cam._pipeline.worker is None and not cam._session.ready
    cam.close()
    assert list(tmp_path.iterdir()) == [], "only rank 0 may open the recording"
    assert sent.messages == [], "the widget exists, but nothing is sent to it"


def test_rank_0_captures_and_records_where_rank_is_filled_in(rank0, mlp, probe, tmp_path):
    cam = sentrycam.Monitor(
        mlp, layers=["act1"], probe=probe, every=2, record=tmp_path / "run-{rank}.arrows"
    )
    for step in range(5):
        cam.step(step)
    cam.close()
    assert [f.step for f in sentrycam.read_recording(tmp_path / "run-0.arrows")] == [0, 2, 4]
    assert cam.stats["rank"] == 0


def test_every_rank_captures_with_distributed_all_into_its_own_file(rank1, mlp, probe, tmp_path):
    with pytest.raises(ValueError, match=r"\{rank\}"):
        sentrycam.Monitor(
            mlp, layers=["act1"], probe=probe, distributed="all", record=tmp_path / "run.arrows"
        )
    cam = sentrycam.Monitor(
        mlp,
        layers=["act1"],
        probe=probe,
        every=1,
        distributed="all",
        record=str(tmp_path / "run-{rank}.arrows"),
    )
    cam.step(0)
    cam.close()
    assert [f.step for f in sentrycam.read_recording(tmp_path / "run-1.arrows")] == [0]


def test_an_unknown_mode_lists_the_valid_ones(mlp, probe):
    with pytest.raises(ValueError, match="distributed must be one of") as info:
        sentrycam.Monitor(mlp, layers=["act1"], probe=probe, distributed="ddp")
    assert all(mode in str(info.value) for mode in DISTRIBUTED_MODES)


def test_shard_mode_refuses_a_time_budget_even_in_one_process(mlp, probe):
    with pytest.raises(ValueError, match="without budget"):
        sentrycam.Monitor(mlp, layers=["act1"], probe=probe, distributed="shard", budget=0.05)


def test_shard_mode_needs_an_initialised_process_group(rank0, mlp, probe):
    with pytest.raises(ValueError, match="init_process_group"):
        sentrycam.Monitor(mlp, layers=["act1"], probe=probe, distributed="shard")
    # Without a model (a framework callback binds it once training has started) the check waits
    # for the first capture.
    sentrycam.Monitor(layers=["act1"], probe=probe, distributed="shard")


def test_shard_mode_in_one_process_is_an_ordinary_capture(mlp, probe):
    plain = sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=1)
    shard = sentrycam.Monitor(mlp, layers=["act1"], probe=probe, every=1, distributed="shard")
    plain.step(0)
    shard.step(0)
    np.testing.assert_array_equal(plain.frames[0].x, shard.frames[0].x)


class FSDPModule(nn.Module):
    """Named like FSDP2's class: what a ``fully_shard``-ed model is an instance of."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def test_a_sharded_model_with_the_default_mode_is_refused_at_once(rank0, probe):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="distributed='shard'"):
        sentrycam.Monitor(FSDPModule(), layers=["fc"], probe=probe)
    assert time.perf_counter() - t0 < 1.0


def test_a_sharded_model_bound_after_construction_is_refused_before_its_forward_pass(rank0, probe):
    """As a framework callback does: the monitor exists before the trainer has a model."""
    model, calls = FSDPModule(), []
    model.register_forward_pre_hook(lambda *_: calls.append(1))
    cam = sentrycam.Monitor(layers=["fc"], probe=probe, every=1)
    with pytest.raises(ValueError, match="distributed='shard'"):
        cam.bind(model, probe=probe)
    with pytest.raises(RuntimeError, match="needs a model"):
        cam.step(0)  # nothing was bound: told, not a hang
    assert calls == [] and cam.frames == []


def test_a_sharded_model_in_one_process_needs_nothing(probe):
    cam = sentrycam.Monitor(FSDPModule(), layers=["fc"], probe=probe, every=1)
    cam.step(0)
    assert len(cam.frames) == 1


def test_layers_inside_fsdp_wrappers_keep_their_names():
    class Wrapper(nn.Module):  # how FullyShardedDataParallel holds the module it wraps
        def __init__(self, module: nn.Module) -> None:
            super().__init__()
            self._fsdp_wrapped_module = module

    inner = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.ReLU()))
    model = Wrapper(nn.Sequential(OrderedDict(block=Wrapper(inner))))
    found = resolve_layers(model, ["block.act", "_fsdp_wrapped_module.block"])
    assert found["block.act"].module is inner.act
    with pytest.raises(
        ValueError, match=r"'nope' \(no close name\)\. .* stages: block \(Wrapper\);"
    ):
        resolve_layers(model, ["nope"])


def test_a_probe_part_is_padded_with_its_last_row():
    x = torch.arange(10).reshape(5, 2)
    part = Probe((x, torch.arange(5)), needs_model_input=True).rows(3, 5, 3)
    assert part.n == 3 and part.labels is None
    assert part.x.tolist() == [[6, 7], [8, 9], [8, 9]]
    both = Probe({"a": x, "b": x + 1}, needs_model_input=True).rows(0, 1, 1)
    assert both.x["b"].tolist() == [[1, 2]]


def test_in_lockstep_a_due_step_counts_as_taken_whatever_happens_to_it():
    free, lockstep = Cadence(5, None), Cadence(5, None, lockstep=True)
    assert free.due(10) and free.due(10), "without lockstep a failed capture is tried again"
    assert lockstep.due(10) and not lockstep.due(10) and not lockstep.due(12)
    assert lockstep.due(15)


# ---- real two-process jobs ----------------------------------------------------------------


def torchrun(scenario: str, out: Path, *args: str) -> tuple[dict[int, dict[str, Any]], float]:
    """Run ``scenario`` of dist_job.py on two processes (gloo on the CPU unless ``args`` say
    ``--device cuda``); what each rank reported, and the seconds it took."""
    pytest.importorskip("sklearn")
    t0 = time.perf_counter()
    run_torchrun(JOB, scenario, str(out), *args, timeout=JOB_TIMEOUT_S)
    seconds = time.perf_counter() - t0
    reports = {r: json.loads((out / f"{scenario}-rank{r}.json").read_text()) for r in (0, 1)}
    return reports, seconds


def test_ddp_only_rank_0_captures_and_records(tmp_path):
    reports, seconds = torchrun("ddp", tmp_path)
    zero, one = reports[0], reports[1]
    expected = [[s, layer] for s in (0, 5, 10, 15, 20) for layer in ("act1", "act2")]
    assert zero["frames"] == expected and zero["stats"]["captures"] == 5
    assert zero["recorder"] and zero["worker"]
    assert one["frames"] == [] and one["stats"]["captures"] == 0
    assert not one["recorder"] and not one["worker"] and not one["runner"]
    assert zero["hooks"] == one["hooks"] == 0
    # The probe ran inside DDP's wrapper: DDP's collectives (the model has BatchNorm buffers,
    # which DDP's forward broadcasts) never ran on rank 0 alone, so the ranks stayed in step.
    assert zero["weights"] == one["weights"]
    # Both ranks passed the same record= path; only rank 0 wrote it, and it is whole.
    recorded = sentrycam.read_recording(tmp_path / "run.arrows", strict=True)
    assert [[f.step, f.layer] for f in recorded] == expected
    assert all(f.x.shape == (200, 32 if f.layer == "act1" else 16) for f in recorded)
    print(f"ddp job: {seconds:.1f} s")


def test_fsdp_shard_mode_gathers_the_whole_probe_in_order_on_rank_0(tmp_path):
    reports, seconds = torchrun("fsdp2", tmp_path)
    zero, one = reports[0], reports[1]
    assert zero["problems"] == [] and one["problems"] == []
    assert zero["gather_timeout_s"] == one["gather_timeout_s"] == GATHER_TIMEOUT_S
    expected = [[s, layer] for s in (0, 4, 8) for layer in ("act1", "act2")]
    assert zero["frames"] == expected and zero["stats"]["captures"] == 3
    assert one["stats"]["captures"] == 3 and one["stats"]["frames_sent"] == 0
    # Equal to one process's pass over the whole probe with the same weights: rows in probe order.
    assert zero["shapes"] == {"act1": [101, 32], "act2": [101, 16]}
    assert max(zero["max_error"].values()) < 1e-5
    assert zero["preds_equal"] and zero["labels_equal"] and all(zero["ids"])
    recorded = sentrycam.read_recording(tmp_path / "fsdp2.arrows", strict=True)
    assert [[f.step, f.layer] for f in recorded] == expected
    assert not list(tmp_path.glob("*rank1*.arrows"))
    print(f"fsdp2 job: {seconds:.1f} s")


def test_misconfigurations_fail_fast_on_every_rank_with_what_to_do(tmp_path):
    reports, seconds = torchrun("misconfig", tmp_path)
    for rank, seen in reports.items():
        assert "sharded (FSDP (fully_shard))" in seen["fsdp_rank0"]["error"]
        assert "Pass Monitor(..., distributed='shard')" in seen["fsdp_rank0"]["error"]
        assert "differ in ['every']" in seen["every_differs"]["error"]
        assert "rank 0: every=5; rank 1: every=6" in seen["every_differs"]["error"]
        assert "at least 2 samples" in seen["tiny_probe"]["error"]
        assert "without budget" in seen["budget"]["error"]
        for case in ("fsdp_rank0", "every_differs", "tiny_probe", "budget"):
            assert seen[case]["seconds"] < 5, (rank, case)
        assert seen["fails_on_rank1"]["frames"] == 0
        assert seen["fails_on_rank1"]["seconds"] < 5
    assert any(
        "rank 1: RuntimeError: this rank's data loader is broken" in p
        for p in reports[0]["fails_on_rank1"]["problems"]
    )
    alone = reports[0]["alone"]  # only rank 0 constructed a sharded monitor
    assert "not all came" in alone["error"] and "every rank must construct" in alone["error"]
    assert alone["seconds"] < 10  # the join timeout, shortened to 2 s in the job
    print(f"misconfig job: {seconds:.1f} s")


@pytest.mark.skipif(
    not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs two GPUs"
)
def test_fsdp1_shard_mode_on_two_gpus(tmp_path):
    """FullyShardedDataParallel refuses to run on the CPU: this runs where there are two GPUs."""
    reports, seconds = torchrun("fsdp1", tmp_path, "--device", "cuda")
    zero = reports[0]
    assert zero["problems"] == [] and reports[1]["problems"] == []
    assert zero["shapes"] == {"act1": [101, 32], "act2": [101, 16]}
    assert max(zero["max_error"].values()) < 1e-3  # the reference runs on the CPU
    assert zero["labels_equal"] and all(zero["ids"])
    print(f"fsdp1 job: {seconds:.1f} s")
