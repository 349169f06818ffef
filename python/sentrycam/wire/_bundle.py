"""The front-end bundle anywidget loads, or a stand-in that says it is missing."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CSS", "ESM", "STATIC", "bundle_missing"]

#: Where the build puts the bundle (``npm run build``) and the wheel carries it.
STATIC = Path(__file__).parent.parent / "static"

# Shown instead of the view when the package was installed without its frontend bundle.
_MISSING_BUNDLE_ESM = """
export default { render({ el }) {
  el.textContent = "sentrycam: the frontend bundle (static/widget.js) is missing, so the view "
    + "cannot be shown. Capture, metrics, alerts and recording still work. Run npm run build.";
} };
"""


def _static_or(path: Path, fallback: str) -> Path | str:
    """``path`` when it exists (anywidget reads it), else inline ``fallback`` source."""
    return path if path.exists() else fallback


ESM = _static_or(STATIC / "widget.js", _MISSING_BUNDLE_ESM)
CSS = _static_or(STATIC / "widget.css", "")


def bundle_missing() -> str:
    """The problem to report when the bundle is missing; ``""`` when it is there."""
    if (STATIC / "widget.js").exists():
        return ""
    return (
        "the frontend bundle python/sentrycam/static/widget.js is missing, so no view can be "
        "shown (capture, metrics and recording still work); run `npm run build`"
    )
