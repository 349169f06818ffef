"""The wheel carries the frontend bundle, and the installed package runs without Node."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    not (ROOT / "python" / "sentrycam" / "static" / "widget.js").exists(),
    reason="bundle not built (run npm run build)",
)
def test_wheel_carries_the_bundle_and_runs_without_node(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(ROOT / "python"),
            "-w",
            str(tmp_path),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("sentrycam-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "sentrycam/static/widget.js" in names and "sentrycam/static/widget.css" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import shutil, sentrycam, numpy as np\n"
        "assert shutil.which('node') is None and shutil.which('npm') is None\n"
        "cam = sentrycam.Monitor()\n"
        "cam.log(0, {'h': np.ones((3, 2))})\n"
        "assert 'export' in cam._esm and len(cam._esm) > 100_000 and cam.problems == []\n"
        "print(sentrycam.__file__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "PATH": str(Path(sys.executable).parent)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(site))
