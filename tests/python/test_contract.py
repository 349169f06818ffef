"""Python and TypeScript agree on the contract: versions, message shapes and shared constants."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import sentrycam
from sentrycam import protocol
from sentrycam.groups import GROUP_METRICS, GROUP_SEP
from sentrycam.metrics import KNN_K, METRIC_KEYS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ts() -> dict:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "tsx").exists():
        pytest.skip("node and the npm packages are needed (bash scripts/setup.sh)")
    out = subprocess.run(
        ["node", "--import", "tsx", "tests/ts/support/dump-contract.ts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)


def test_versions_agree(ts):
    package = json.loads((ROOT / "package.json").read_text())
    assert ts["VERSION"] == package["version"] == sentrycam.__version__
    assert ts["PROTOCOL_VERSION"] == protocol.PROTOCOL_VERSION


def test_message_shapes_agree(ts):
    def keys(d: dict) -> dict:
        return {tag: sorted(fields) for tag, fields in d.items()}

    assert keys(ts["KERNEL_MESSAGE_KEYS"]) == protocol.message_keys(protocol.KERNEL_MESSAGES)
    assert keys(ts["VIEW_MESSAGE_KEYS"]) == protocol.message_keys(protocol.VIEW_MESSAGES)


def test_constants_agree(ts):
    assert tuple(ts["REDUCERS"]) == protocol.REDUCERS
    assert tuple(ts["IMAGE_FORMATS"]) == protocol.IMAGE_FORMATS
    assert tuple(ts["SEVERITIES"]) == protocol.SEVERITIES
    assert tuple(ts["NOTICE_LEVELS"]) == protocol.NOTICE_LEVELS
    assert ts["DEFAULT_MAX_FRAMES"] == protocol.DEFAULT_MAX_FRAMES
    assert ts["KNN_K"] == KNN_K
    assert tuple(ts["METRIC_NAMES"]) == METRIC_KEYS
    assert tuple(ts["GROUP_METRICS"]) == GROUP_METRICS
    assert ts["GROUP_SEPARATOR"] == GROUP_SEP
    assert {p["metric"] for p in ts["GROUP_PANELS"]} <= set(GROUP_METRICS)
    charted = {k for panel in ts["CHART_PANELS"] for k in panel["keys"]}
    assert charted <= set(METRIC_KEYS), "every chart draws a metric the kernel computes"


def test_synced_traits_agree(ts):
    """The view's typed model (src/model.ts Traits) has exactly the monitor's synced traits."""
    own = {
        name
        for name, trait in sentrycam.Monitor.class_traits(sync=True).items()
        if any(name in vars(cls) for cls in sentrycam.Monitor.__mro__[:1])
    }
    assert set(ts["TRAIT_NAMES"]) == own
