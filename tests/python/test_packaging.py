"""The wheel carries the bundle and the JupyterLab extension, and runs without Node."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import sentrycam

ROOT = Path(__file__).resolve().parents[2]
#: Where the wheel's data puts the JupyterLab extension, below the environment's prefix.
EXTENSION = "share/jupyter/labextensions/sentrycam-alerts"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built once for this module's tests."""
    out = tmp_path_factory.mktemp("wheel")
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
            str(out),
        ],
        check=True,
    )
    (built,) = out.glob("sentrycam-*.whl")
    return built


@pytest.mark.skipif(
    not (ROOT / "python" / "sentrycam" / "static" / "widget.js").exists(),
    reason="bundle not built (run npm run build)",
)
def test_wheel_carries_the_bundle_and_runs_without_node(wheel, tmp_path):
    names = zipfile.ZipFile(wheel).namelist()
    assert "sentrycam/static/widget.js" in names and "sentrycam/static/widget.css" in names
    assert "sentrycam/contract/registry.json" in names, "the metric registry, read at import"
    share = f"sentrycam-{sentrycam.__version__}.data/data/{EXTENSION}/"
    assert share + "package.json" in names, "the JupyterLab extension rides in the wheel"
    assert any(n.startswith(share + "static/remoteEntry.") for n in names)
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


@pytest.mark.skipif(
    not (ROOT / "python" / "sentrycam" / "labextension" / "package.json").exists(),
    reason="JupyterLab extension not built (run scripts/build-labextension.sh)",
)
def test_the_wheel_installs_the_jupyterlab_extension(wheel, tmp_path):
    """The wheel's data in a fresh prefix: JupyterLab lists the extension from there."""
    # What pip does with a wheel's data: <name>.data/data/* goes under the prefix. Done by hand:
    # `pip install --prefix` would also uninstall the sentrycam this environment runs.
    section = _listed(wheel, tmp_path)
    assert "sentrycam-alerts" in section and "enabled" in section and "OK" in section, section


def _listed(wheel: Path, tmp_path: Path) -> str:
    """What `jupyter labextension list` says of the wheel's data installed in a fresh prefix."""
    prefix = tmp_path / "prefix"
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if ".data/data/" in name:
                target = prefix / name.split(".data/data/", 1)[1]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(name))
    here = (prefix / EXTENSION).parent
    assert (prefix / EXTENSION / "package.json").exists()
    env = {**os.environ, "JUPYTER_PATH": str(prefix / "share" / "jupyter")}
    out = subprocess.run(
        [sys.executable, "-m", "jupyterlab.labextensions", "list"],
        env=env,
        capture_output=True,
        text=True,
    )
    listing = out.stdout + out.stderr
    return listing[listing.index(str(here)) :].split("\n\n")[0]


@pytest.mark.skipif(
    not (ROOT / "node_modules" / "@jupyterlab" / "builder").exists(),
    reason="npm packages not installed (scripts/setup.sh)",
)
def test_a_source_install_builds_the_extension_in_an_isolated_environment(tmp_path):
    """`pip install ./python` from a checkout whose extension was never built: pip's isolated
    build environment has what building the extension needs, and the wheel carries it."""
    checkout = tmp_path / "checkout"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in [*files, "python/sentrycam/static/widget.js", "python/sentrycam/static/widget.css"]:
        source = ROOT / name
        if source.is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            (checkout / name).write_bytes(source.read_bytes())
    (checkout / "node_modules").symlink_to(ROOT / "node_modules")
    assert not (checkout / "python" / "sentrycam" / "labextension").exists()
    out = tmp_path / "wheel"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(  # no Python with jupyterlab on the PATH but pip's own
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "./python", "-w", str(out)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (built,) = out.glob("sentrycam-*.whl")
    names = zipfile.ZipFile(built).namelist()
    share = f"sentrycam-{sentrycam.__version__}.data/data/{EXTENSION}/"
    assert share + "package.json" in names, names
    assert any(n.startswith(share + "static/remoteEntry.") for n in names)
    listing = _listed(built, tmp_path)
    assert "sentrycam-alerts" in listing and "enabled" in listing and "OK" in listing, listing
