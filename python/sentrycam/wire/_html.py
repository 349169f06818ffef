"""Standalone HTML export: the widget's bundle, its styles and the frames in one offline page."""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..contract import REDUCERS, TaskBoundary, __version__
from ._bundle import STATIC
from ._frames import Frame

# The page loads the widget's own bundle (inlined, from a Blob URL, as anywidget does) and calls its
# typed entry point `mountPage(el, data)` (src/widget.ts), which feeds the data to the same view
# the notebook shows, as the kernel would. The data's shape is `PageData` there.
_BOOT = """
const data = JSON.parse(document.getElementById("sentrycam-data").textContent);
const source = document.getElementById("sentrycam-bundle").textContent;
const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
(await import(url)).mountPage(document.getElementById("sentrycam"), data);
"""


def write_html(
    path: str | os.PathLike[str],
    frames: Iterable[Frame],
    *,
    alerts: Iterable[Any] = (),
    layers: list[str] | None = None,
    reducer: str = REDUCERS[0],
    title: str = "sentrycam",
    class_names: list[str] | None = None,
    tasks: list[TaskBoundary] | None = None,
) -> Path:
    """Write a page that shows ``frames`` (and ``alerts``) with no server and no network."""
    bundle = (STATIC / "widget.js").read_text(encoding="utf-8")
    css = (STATIC / "widget.css").read_text(encoding="utf-8")
    frames = list(frames)
    data = {
        "frames": [base64.b64encode(f.ipc).decode("ascii") for f in frames],
        "alerts": [a.to_dict() if hasattr(a, "to_dict") else dict(a) for a in alerts],
        "tasks": list(tasks or []),
        "layers": layers or list(dict.fromkeys(f.layer for f in frames)),
        "reducer": reducer,
        "class_names": list(class_names or []),
        "version": __version__,
    }
    payload = json.dumps(data, default=_json_default)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body {{ margin: 16px; font-family: system-ui, sans-serif; }}</style>
<style>{css}</style></head>
<body><h3>{html.escape(title)}</h3><div id="sentrycam"></div>
<script type="application/json" id="sentrycam-data">{_script_safe(payload)}</script>
<script type="text/plain" id="sentrycam-bundle">{_script_safe(bundle)}</script>
<script type="module">{_BOOT}</script>
</body></html>
"""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _script_safe(text: str) -> str:
    """Text that cannot close its <script> element early (``</script`` becomes ``<\\/script``)."""
    return text.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def _json_default(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
