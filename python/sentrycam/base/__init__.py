"""The shared vocabulary every stage uses: arrays of any library as rows, the problem log and its
warning, group names and task boundaries.
"""

from ._arrays import as_int_vector, as_rows, check_numeric, count_nonfinite, is_tensor, to_numpy
from ._groups import (
    MAX_GROUPS,
    GroupNames,
    group_metric_name,
    split_group_metric,
    task_boundary,
    task_of,
)
from ._problems import ProblemLog, SentrycamWarning, defer_warnings_on_this_thread

__all__ = [
    "MAX_GROUPS",
    "GroupNames",
    "ProblemLog",
    "SentrycamWarning",
    "as_int_vector",
    "as_rows",
    "check_numeric",
    "count_nonfinite",
    "defer_warnings_on_this_thread",
    "group_metric_name",
    "is_tensor",
    "split_group_metric",
    "task_boundary",
    "task_of",
    "to_numpy",
]
