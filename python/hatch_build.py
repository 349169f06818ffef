"""Build the frontend bundle before packaging when it is missing and Node is available."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class BundleHook(BuildHookInterface):
    """Runs ``npm run build`` at the repository root if ``sentrycam/static/widget.js`` is absent."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
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
