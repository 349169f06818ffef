"""Alerts: the :class:`Alert` type, the engine and its rules (robust trend, hard, forgetting),
the messages that explain them, the per-layer auditor and the replay of a recording's alerts.
"""

from ._alert import Alert
from ._audit import Auditor
from ._engine import BETWEEN_FRAMES, DIRECTIONS, AlertEngine, direction_of
from ._log import MAX_ALERTS, AlertLog
from ._replay import AlertReplay
from ._rules import RobustChangeRule, SentryCamRule, StreamRule, Warmup, make_rule
from ._series import alert_steps

__all__ = [
    "BETWEEN_FRAMES",
    "DIRECTIONS",
    "MAX_ALERTS",
    "Alert",
    "AlertEngine",
    "AlertLog",
    "AlertReplay",
    "Auditor",
    "RobustChangeRule",
    "SentryCamRule",
    "StreamRule",
    "Warmup",
    "alert_steps",
    "direction_of",
    "make_rule",
]
