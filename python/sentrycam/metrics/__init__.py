"""Geometry metrics of one layer's activations (and of each group of samples), kernel-side."""

from ..contract import KNN_K, METRIC_KEYS
from ._groups import GroupTracker, group_metrics
from ._layer import DORMANT_TAU, KNN_MAX_QUERIES, SKETCH_COLS, LayerState, layer_metrics

__all__ = [
    "DORMANT_TAU",
    "KNN_K",
    "KNN_MAX_QUERIES",
    "METRIC_KEYS",
    "SKETCH_COLS",
    "GroupTracker",
    "LayerState",
    "group_metrics",
    "layer_metrics",
]
