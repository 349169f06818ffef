"""One contract for both languages.

The metric registry (python/sentrycam/contract/registry.json) is the one place a metric, a chart
panel or a severity is declared; both sides derive their tables from it. These tests compare what
each side *derives* (run through `scripts/ts-contract.ts` for TypeScript), tie the registry to
what the kernel really computes, and check the parts of the contract that are still written in
each language (versions, message shapes, synced traits).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import sentrycam
from sentrycam import contract
from sentrycam.alerts import DIRECTIONS
from sentrycam.alerts._explain import METRIC_TEXT
from sentrycam.metrics import LayerState, group_metrics, layer_metrics

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ts() -> dict:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "tsx").exists():
        pytest.fail("node and the npm packages are needed: run bash scripts/setup.sh")
    out = subprocess.run(
        ["node", "--import", "tsx", "scripts/ts-contract.ts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)


def python_chart_panels() -> list[dict]:
    """The chart panels as Python reads them from the registry (the TS side derives its own)."""
    panels = []
    for title in contract.registry()["panels"]:
        drawn = [m for m in contract.METRICS.values() if m.panel == title]
        panel: dict = {"title": title, "keys": [m.name for m in drawn]}
        if any(m.line for m in drawn):
            panel["names"] = [m.line or m.name for m in drawn]
        panels.append(panel)
    return panels


def test_versions_agree(ts):
    package = json.loads((ROOT / "package.json").read_text())
    assert ts["VERSION"] == package["version"] == sentrycam.__version__
    assert ts["PROTOCOL_VERSION"] == contract.PROTOCOL_VERSION


def test_message_shapes_agree(ts):
    def keys(d: dict) -> dict:
        return {tag: sorted(fields) for tag, fields in d.items()}

    assert keys(ts["KERNEL_MESSAGE_KEYS"]) == contract.message_keys(contract.KERNEL_MESSAGES)
    assert keys(ts["VIEW_MESSAGE_KEYS"]) == contract.message_keys(contract.VIEW_MESSAGES)


def test_constants_written_in_each_language_agree(ts):
    assert tuple(ts["REDUCERS"]) == contract.REDUCERS
    assert tuple(ts["IMAGE_FORMATS"]) == contract.IMAGE_FORMATS
    assert tuple(ts["NOTICE_LEVELS"]) == contract.NOTICE_LEVELS
    assert ts["DEFAULT_MAX_FRAMES"] == contract.DEFAULT_MAX_FRAMES


def test_both_languages_derive_the_same_tables_from_the_registry(ts):
    assert tuple(ts["METRIC_NAMES"]) == contract.METRIC_KEYS
    assert tuple(ts["GROUP_METRICS"]) == contract.GROUP_METRICS
    assert ts["GROUP_SEPARATOR"] == contract.GROUP_SEP
    assert ts["KNN_K"] == contract.KNN_K
    assert tuple(ts["SEVERITIES"]) == contract.SEVERITIES
    assert tuple(ts["NOTIFY_SEVERITIES"]) == contract.NOTIFY_SEVERITIES
    assert ts["CHART_PANELS"] == python_chart_panels()
    assert ts["GROUP_PANELS"] == [
        {"title": title, "metric": m.name}
        for title in contract.registry()["group_panels"]
        for m in contract.GROUP_METRIC_SPECS.values()
        if m.panel == title
    ]


def test_the_registry_is_well_formed():
    reg = contract.registry()
    assert reg["severities"] == ["info", "warning", "critical"], "least severe first"
    assert reg["notify_from"] in reg["severities"]
    names = [m["name"] for m in reg["metrics"]]
    assert len(names) == len(set(names))
    for m in contract.METRICS.values():
        assert m.meaning and m.noun, m.name
        assert m.style in ("relative", "percent", "level"), m.name
        assert m.panel is None or m.panel in reg["panels"], m.name
        if m.direction:  # a watched metric must be explainable in an alert
            assert m.change and m.causes, f"{m.name} is watched but has no alert wording"
    for title in reg["panels"]:
        assert any(m.panel == title for m in contract.METRICS.values()), f"{title} draws nothing"
    for title in reg["group_panels"]:
        assert any(m.panel == title for m in contract.GROUP_METRIC_SPECS.values()), title
    assert "{knn_k}" not in " ".join(m.line or "" for m in contract.METRICS.values())


def test_the_kernel_computes_exactly_the_registered_metrics():
    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(size=(60, 8))).astype(np.float32)  # never negative: dead is defined
    labels = np.arange(60) % 3
    state = LayerState()
    layer_metrics(x, labels, state)
    with_labels = layer_metrics(x + 0.01, labels, state)
    assert tuple(with_labels) == contract.METRIC_KEYS
    assert all(math.isfinite(v) for v in with_labels.values()), with_labels
    without = layer_metrics(x + 0.02, None, state)
    needs = {m.name for m in contract.METRICS.values() if m.needs_labels}
    assert {k for k, v in without.items() if math.isnan(v)} == needs, "needs_labels is true"


def test_the_kernel_computes_exactly_the_registered_group_metrics():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    labels = np.arange(40) % 2
    codes = (np.arange(40) // 20).astype(np.int32)
    got = group_metrics(
        x, codes=codes, names=["a", "b"], labels=labels, preds=labels, ids=np.arange(40)
    )
    per = {name.partition(contract.GROUP_SEP)[0] for name in got}
    assert per == set(contract.GROUP_METRICS)
    assert {name.partition(contract.GROUP_SEP)[2] for name in got} == {"a", "b"}


def test_alert_rules_and_messages_read_the_registry():
    watched = [*contract.METRICS.values(), *contract.OUTPUT_METRICS.values()]
    assert {m.name: m.direction for m in watched if m.direction} == DIRECTIONS
    assert set(METRIC_TEXT) == {m.name for m in watched if m.change}
    assert not set(contract.METRICS) & set(contract.OUTPUT_METRICS)


def test_synced_traits_agree(ts):
    """The view's typed model (src/model.ts Traits) has exactly the monitor's synced traits."""
    own = {
        name
        for name, trait in sentrycam.Monitor.class_traits(sync=True).items()
        if any(name in vars(cls) for cls in sentrycam.Monitor.__mro__[:1])
    }
    assert set(ts["TRAIT_NAMES"]) == own
