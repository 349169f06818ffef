"""Standalone HTML export: the widget's bundle, its styles and the frames in one offline page."""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .frames import Frame

STATIC = Path(__file__).parent / "static"

# The page hosts the same front-end module the notebook uses, behind a minimal stand-in for the
# widget model; frames are fed to it as the kernel would send them (Arrow IPC buffers).
_BOOT = """
const data = JSON.parse(document.getElementById("sentrycam-data").textContent);
const source = document.getElementById("sentrycam-bundle").textContent;
const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
const widget = (await import(url)).default;
const handlers = new Map();
const state = { _uid: "html-export", layers: data.layers, reducer: data.reducer };
const model = {
  get: (k) => state[k],
  set: (k, v) => { state[k] = v; (handlers.get("change:" + k) || []).forEach((f) => f()); },
  save_changes() {},
  on: (name, f) => handlers.set(name, [...(handlers.get(name) || []), f]),
  off: (name, f) => handlers.set(name, (handlers.get(name) || []).filter((g) => g !== f)),
  send: () => {},
  widget_manager: null,
};
const signal = new AbortController().signal;
await widget.initialize?.({ model, signal, experimental: {} });
const el = document.getElementById("sentrycam");
await widget.render({ model, el, signal, experimental: {}, host: {} });
const bytes = (b64) => { const s = atob(b64); const u = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i); return new DataView(u.buffer); };
for (const f of handlers.get("msg:custom") || []) {
  f({ type: "frames", seqs: data.frames.map((_, i) => i), replay: true }, data.frames.map(bytes));
  if (data.alerts.length) f({ type: "alerts", alerts: data.alerts }, []);
}
"""


def write_html(
    path: str | os.PathLike[str],
    frames: Iterable[Frame],
    *,
    alerts: Iterable[Any] = (),
    layers: list[str] | None = None,
    reducer: str = "umap",
    title: str = "sentrycam",
) -> Path:
    """Write a page that shows ``frames`` (and ``alerts``) with no server and no network."""
    bundle = (STATIC / "widget.js").read_text(encoding="utf-8")
    css = (STATIC / "widget.css").read_text(encoding="utf-8")
    frames = list(frames)
    data = {
        "frames": [base64.b64encode(f.ipc).decode("ascii") for f in frames],
        "alerts": [a.to_dict() if hasattr(a, "to_dict") else dict(a) for a in alerts],
        "layers": layers or list(dict.fromkeys(f.layer for f in frames)),
        "reducer": reducer,
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
