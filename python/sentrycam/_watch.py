"""``sentrycam.watch``: a monitor that follows a recording written by another process or machine."""

from __future__ import annotations

import os
from typing import Any

from .monitor import Monitor
from .recording import POLL_S, FollowThread, RunFollower

__all__ = ["watch"]


def watch(
    path_or_url: str | os.PathLike[str], *, poll: float = POLL_S, **monitor_kwargs: Any
) -> Monitor:
    """A :class:`Monitor` that follows a recording written by another process or machine: new
    frames reach its views within about ``poll`` seconds, alerts are recomputed (``alerts=`` an
    ``AlertEngine`` of your own; ``on_alert`` functions run on the polling thread), a run that
    ends or restarts is told in the view. It polls on a background thread; ``cam.close()`` stops
    following; ``cam.stats["watch"]`` says where it stands.
    """
    if poll <= 0:
        raise ValueError(f"poll must be a positive number of seconds, got {poll!r}")
    engine = monitor_kwargs.pop("alerts", None)
    follower = RunFollower(path_or_url, engine)  # a bad URL fails here, in the user's cell
    cam = Monitor(metrics=False, **monitor_kwargs)
    cam.title = cam.title or f"watching {follower.tail.location.given}"
    thread = FollowThread(cam, follower, poll)
    cam.report_stats("watch", thread.stats)
    thread.start()
    return cam
