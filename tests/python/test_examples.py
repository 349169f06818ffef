"""The example notebooks run top to bottom in a real kernel (headless, through nbclient)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path, name):
    """Run an example notebook in a real kernel; return the text of all its outputs."""
    nb_path = tmp_path / name
    shutil.copy(ROOT / "examples" / name, nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    text = "\n".join(
        out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )
    assert "Error" not in text, text
    return text


def test_quickstart_notebook_runs(tmp_path):
    text = _run(tmp_path, "quickstart.ipynb")
    acc = float(text.split("validation accuracy ")[1].split()[0])
    assert acc > 0.85, text
    assert "80 frames kept; 0 alerts" in text, "a healthy run raises nothing"
    # The mistake on purpose (15x the learning rate at step 550) is told at the next capture.
    alerts = [line for line in text.splitlines() if line.startswith("step ")]
    assert len(alerts) == 1 and alerts[0].startswith("step 560 warning act1:"), text
    assert "learning rate too high" in alerts[0] and "act2/dead_frac" in text, text


def test_cnn_notebook_runs_within_its_budget(tmp_path):
    text = _run(tmp_path, "cnn.ipynb")
    acc = float(text.split("validation accuracy ")[1].split()[0])
    assert acc > 0.9, text
    captures = int(text.split(" captures, effective every ")[0].split()[-1])
    every = int(text.split("effective every ")[1].split()[0])
    assert captures >= 2 and every >= 10, text
    assert "layer act2: output (256, 32, 8, 8) -> rows (256, 32) (mean)" in text, text


def test_continual_notebook_raises_forgetting_of_the_first_task(tmp_path):
    text = _run(tmp_path, "continual.ipynb")
    assert "after task 0-4: accuracy on 0-4 0.9" in text, text  # learnt, then forgotten
    assert "after task 5-9: accuracy on 0-4 0.0" in text, text
    boundary = int(text.split("'name': '5-9'")[0].split("'step': ")[-1].rstrip(", "))
    alerts = [line.split()[:5] for line in text.splitlines() if line.startswith("step ")]
    steps = [int(a[1]) for a in alerts]
    metrics = [a[4].rstrip(":") for a in alerts]  # step N severity layer metric: message
    assert "forgetting_accuracy@0-4" in metrics, text
    assert alerts[metrics.index("forgetting_accuracy@0-4")][3] == "(model)", text
    assert all(s > boundary for s in steps), text  # nothing before the boundary
    assert not any(m.startswith("forgetting") and m.endswith("5-9") for m in metrics), text
