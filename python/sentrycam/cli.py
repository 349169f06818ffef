"""The ``sentrycam`` command: look at a recording from a terminal or a CI job.

``sentrycam info RUN``, ``sentrycam alerts RUN [--fail-on warning|critical]``,
``sentrycam export RUN -o run.html`` and ``sentrycam watch RUN``. RUN is a recording's path or
fsspec URL. Exit status: 0 on success, 1 when ``--fail-on`` found an alert at that severity,
2 when the recording cannot be read (the reason is printed in plain words), 3 when
``watch --timeout`` ran out before the run ended.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from .alerts import AlertReplay
from .contract import NOTIFY_SEVERITIES, REDUCERS, SEVERITIES, SEVERITY_RANK
from .recording import (
    ENDED_POLL_S,
    MAX_BACKOFF_S,
    POLL_S,
    Poll,
    RecordingError,
    RunFollower,
    read_all,
)

__all__ = ["main"]

EXIT_OK, EXIT_ALERT, EXIT_UNREADABLE, EXIT_TIMEOUT = 0, 1, 2, 3
FAIL_ON = NOTIFY_SEVERITIES  # the severities a CI job may fail on: warning and above


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns its exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run_command(args))
    except (RecordingError, OSError, ValueError) as exc:  # OSError: also network failures
        print(f"sentrycam: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentrycam",
        description="Look at a sentrycam recording (a path or an fsspec URL such as s3://...).",
    )
    sub = parser.add_subparsers(dest="command", required=True, title="commands")

    info = sub.add_parser("info", help="layers, frames, steps, points, alerts, size")
    info.add_argument("run", metavar="RUN", help="recording path or URL")
    info.add_argument("--json", action="store_true", help="print the facts as JSON")
    info.set_defaults(run_command=_info)

    alerts = sub.add_parser("alerts", help="the alerts the run raises (for CI jobs)")
    alerts.add_argument("run", metavar="RUN", help="recording path or URL")
    alerts.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        help="exit with status 1 when an alert of this severity (or worse) exists",
    )
    alerts.add_argument("--json", action="store_true", help="print the alerts as JSON lines")
    alerts.set_defaults(run_command=_alerts)

    export = sub.add_parser("export", help="write the standalone HTML page of a run")
    export.add_argument("run", metavar="RUN", help="recording path or URL")
    export.add_argument("-o", "--output", required=True, help="the HTML file to write")
    export.add_argument("--title", default=None, help="the page's title")
    export.add_argument("--reducer", default=REDUCERS[0], choices=REDUCERS)
    export.set_defaults(run_command=_export)

    watch = sub.add_parser(
        "watch", help="follow a running job, printing alerts as they come (ends with the run)"
    )
    watch.add_argument("run", metavar="RUN", help="recording path or URL")
    watch.add_argument("--poll", type=float, default=POLL_S, help="seconds between looks")
    watch.add_argument(
        "--fail-on", choices=FAIL_ON, help="exit with status 1 once the run raised such an alert"
    )
    watch.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="stop following after this many seconds (exit status 3 if the run had not ended)",
    )
    watch.set_defaults(run_command=_watch)
    return parser


# ---- commands --------------------------------------------------------------------------------


def _info(args: argparse.Namespace) -> int:
    poll, alerts = _read(args.run)
    facts = summary(poll, alerts, args.run)
    if args.json:
        print(json.dumps(facts, indent=2))
        return EXIT_OK
    print(f"recording  {facts['run']}")
    print(f"status     {facts['status']}")
    print(f"size       {_size(facts['bytes'])}")
    print(
        f"frames     {facts['frames']} ({facts['captures']} captures, steps "
        f"{facts['first_step']}..{facts['last_step']})"
    )
    print(f"layers     {len(facts['layers'])}")
    for layer in facts["layers"]:
        print(
            f"  {layer['name']:<24} {layer['frames']:>5} frames  {layer['points']:>6} points  "
            f"d={layer['d']}  pool={layer['pool']}"
        )
    counts = facts["alerts"]
    told = ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES) if counts.get(s))
    print(f"alerts     {sum(counts.values())}" + (f" ({told})" if told else ""))
    if facts["scalars"]:
        print(f"scalars    {', '.join(facts['scalars'])}")
    if facts["tasks"]:
        print("tasks      " + ", ".join(f"{t['name']} (step {t['step']})" for t in facts["tasks"]))
    return EXIT_OK


def _alerts(args: argparse.Namespace) -> int:
    _, alerts = _read(args.run)
    for alert in alerts:
        if args.json:
            print(json.dumps(alert.to_dict() if hasattr(alert, "to_dict") else vars(alert)))
        else:
            print(_alert_line(alert))
            for also in alert.evidence.get("incident", {}).get("also", []):
                print(_joined_line(also))
    if not args.json:
        print(f"{len(alerts)} alert(s) in {args.run}", file=sys.stderr)
    return EXIT_ALERT if _fails(alerts, args.fail_on) else EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from .wire import write_html

    poll, alerts = _read(args.run)
    layers = list(dict.fromkeys(f.layer for f in poll.frames))
    out = write_html(
        args.output,
        poll.frames,
        alerts=alerts,
        layers=layers,
        reducer=args.reducer,
        title=args.title or f"sentrycam: {args.run}",
        tasks=poll.frames[-1].tasks if poll.frames else [],
    )
    print(f"wrote {out} ({_size(out.stat().st_size)}, {len(poll.frames)} frames)")
    return EXIT_OK


def _watch(args: argparse.Namespace) -> int:
    if args.poll <= 0:
        raise ValueError(f"--poll must be a positive number of seconds, got {args.poll}")
    follower = RunFollower(args.run)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    failed = missing_told = False
    last_step: int | None = None
    print(f"following {args.run} (Ctrl-C to stop)", flush=True)
    wait, last_error = args.poll, ""
    while deadline is None or time.monotonic() < deadline:
        try:
            update = follower.poll()
        except (OSError, pa.ArrowException) as exc:  # network down, a file replaced mid-read
            if str(exc) != last_error:
                print(f"reading {args.run} failed ({exc}); retrying", file=sys.stderr, flush=True)
            last_error, wait = str(exc), min(wait * 2, MAX_BACKOFF_S)
            time.sleep(wait)
            continue
        wait, last_error = args.poll, ""
        if not update.exists and not missing_told:
            print(f"waiting for {args.run} to appear", flush=True)
            missing_told = True
        if update.restarted and follower.restarts:
            print("the recording was rewritten: a new run started", flush=True)
        if update.frames:
            last_step = update.frames[-1].step
            print(f"step {last_step}: {follower.frames} frames", flush=True)
        for alert in update.alerts:
            print(_alert_line(alert), flush=True)
        failed = failed or _fails(update.alerts, args.fail_on)
        if update.ended is not None:
            print(f"the run ended ({follower.frames} frames, last step {last_step})", flush=True)
            return EXIT_ALERT if failed else EXIT_OK
        time.sleep(ENDED_POLL_S if not update.exists else args.poll)
    print(f"stopped following after {args.timeout:g} s: the run had not ended", flush=True)
    return EXIT_ALERT if failed else EXIT_TIMEOUT


# ---- helpers ---------------------------------------------------------------------------------


def _read(run: str) -> tuple[Poll, list[Any]]:
    """The whole recording and the alerts its metrics raise (a truncated one: with a warning)."""
    poll = read_all(run)
    if poll.truncated is not None:
        print(
            f"sentrycam: warning: {poll.truncated}; using the {len(poll.frames)} frames before it",
            file=sys.stderr,
        )
    return poll, AlertReplay().feed(poll.frames)


def summary(poll: Poll, alerts: list[Any], run: str) -> dict[str, Any]:
    """The facts ``sentrycam info`` prints."""
    frames = poll.frames
    layers: dict[str, dict[str, Any]] = {}
    for f in frames:
        entry = layers.setdefault(
            f.layer, {"name": f.layer, "frames": 0, "points": f.n, "d": f.d, "pool": f.pool}
        )
        entry["frames"] += 1
    scalars = sorted({k for f in frames for k in f.scalars})
    if poll.ended is not None:
        status = "complete (the writer closed it)"
    elif poll.truncated is not None:
        status = "damaged: " + poll.truncated
    else:
        status = "open (still being written, or the writer stopped without closing it)"
    return {
        "run": run,
        "status": status,
        "ended": poll.ended is not None,
        "bytes": sum(f.nbytes for f in frames),
        "frames": len(frames),
        "captures": len({f.step for f in frames}),
        "first_step": frames[0].step if frames else None,
        "last_step": frames[-1].step if frames else None,
        "layers": list(layers.values()),
        "alerts": dict(Counter(a.severity for a in alerts)),
        "scalars": scalars,
        "tasks": frames[-1].tasks if frames else [],
    }


def _alert_line(alert: Any) -> str:
    layer = alert.layer if alert.layer is not None else "(run)"
    return f"step {alert.step:>7}  {alert.severity:<8}  {layer}  {alert.metric}: {alert.message}"


def _joined_line(also: dict[str, Any]) -> str:
    """An alert that joined an incident instead of being raised, under the incident's alert."""
    layer = also["layer"] if also["layer"] is not None else "(run)"
    return f"   + step {also['step']:>7}  {layer}  {also['metric']} ({also['rule']}), same incident"


def _fails(alerts: list[Any], fail_on: str | None) -> bool:
    if fail_on is None:
        return False
    floor = SEVERITY_RANK[fail_on]
    return any(SEVERITY_RANK.get(a.severity, -1) >= floor for a in alerts)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


if __name__ == "__main__":
    sys.exit(main())
