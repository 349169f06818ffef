"""The example notebooks run top to bottom in a real kernel (headless, through nbclient)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["quickstart.ipynb"])
def test_example_notebook_runs(tmp_path, name):
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
    acc = float(text.split("validation accuracy ")[1].split()[0])
    assert acc > 0.85, text
    assert "80 frames kept" in text
