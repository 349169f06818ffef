"""IPython event hooks: flush batched frames after each cell; report snapshots still pending."""

from __future__ import annotations

import contextlib
import time
import weakref
from typing import Any

#: A snapshot still pending when a cell starts is reported only if the kernel was idle at least
#: this long since the previous cell ended: then the view's answer, had there been one, would have
#: been handled. Under "Run All" the cells follow each other within milliseconds, while the
#: view's answer waits behind them in the kernel's queue: no note then.
IDLE_S = 1.0


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def register(monitor: Any) -> tuple[Any, Any, Any] | None:
    """Register ``post_execute`` (flush) and ``pre_run_cell`` (pending snapshots) hooks."""
    shell = _shell()
    if shell is None or not hasattr(shell, "events"):
        return None
    ref = weakref.ref(monitor)  # the hooks must not keep a discarded monitor alive
    ended = [time.monotonic()]  # when the previous cell ended

    def post_execute() -> None:
        ended[0] = time.monotonic()
        cam = ref()
        if cam is not None:
            cam.flush()

    def pre_run_cell(*_args: Any) -> None:
        cam = ref()
        if cam is None:
            return
        idle = time.monotonic() - ended[0] >= IDLE_S
        for snap in cam.pending_snapshots():
            if idle and not snap.done and not snap.reported:
                snap.reported = True
                print(
                    f"sentrycam: snapshot {snap.path} is still waiting for the view; is the "
                    "monitor's output visible in an open browser tab?"
                )

    shell.events.register("post_execute", post_execute)
    shell.events.register("pre_run_cell", pre_run_cell)
    return shell, post_execute, pre_run_cell


def unregister(handle: tuple[Any, Any, Any] | None) -> None:
    """Undo :func:`register`."""
    if handle is None:
        return
    shell, post_execute, pre_run_cell = handle
    for event, fn in (("post_execute", post_execute), ("pre_run_cell", pre_run_cell)):
        with contextlib.suppress(ValueError):
            shell.events.unregister(event, fn)
