"""Build the frontend bundle and the JupyterLab extension before packaging when they are missing
and Node is available."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class BundleHook(BuildHookInterface):
    """Runs ``npm run build`` at the repository root if ``sentrycam/static/widget.js`` is absent."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        self._bundle()
        self._labextension()

    def _labextension(self) -> None:
        """Build ``sentrycam/labextension`` (the wheel's share/jupyter part) when it is missing."""
        here = Path(self.root)
        if (here / "sentrycam" / "labextension" / "package.json").exists():
            return
        repo = here.parent
        script = repo / "scripts" / "build-labextension.sh"
        ready = (repo / "node_modules" / "@jupyterlab" / "builder").exists() and script.exists()
        if not ready or importlib.util.find_spec("jupyterlab") is None:
            self.app.display_warning(
                "sentrycam: the JupyterLab extension (alert notifications) is not built and cannot "
                "be here (it needs npm packages and jupyterlab); the widget works without it. Run "
                "scripts/build-labextension.sh first."
            )
            return
        subprocess.run(
            ["bash", str(script)],
            cwd=repo,
            check=True,
            env={**os.environ, "PYTHON": sys.executable},
        )

    def _bundle(self) -> None:
        here = Path(self.root)
        bundle = here / "sentrycam" / "static" / "widget.js"
        if bundle.exists() and bundle.with_suffix(".css").exists():
            return
        repo = here.parent
        npm = shutil.which("npm")
        if npm is None or not (repo / "package.json").exists():
            self.app.display_warning(
                "sentrycam: static/widget.js is missing and Node/npm is not available; the package "
                "will capture and record but cannot display a view. Run `npm run build` first."
            )
            return
        if not (repo / "node_modules").exists():
            subprocess.run(
                [npm, "ci" if (repo / "package-lock.json").exists() else "install"],
                cwd=repo,
                check=True,
            )
        subprocess.run([npm, "run", "build"], cwd=repo, check=True)
