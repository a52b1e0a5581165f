"""compare: the paper's analyses as plain functions on stored results.

Similarity of spaces (Pearson of distance vectors, bootstrap CIs, linear CKA, RSA), label
centroid geometry and its PCA views, before/after dynamics (min distance, layers, cross-task,
accuracy, clusters, train/test), and the six findings as checks.
"""

from ._plain import plain
from .dynamics import (
    MinDistanceChange,
    accuracy_change,
    cluster_change,
    cross_task_change,
    layer_dynamics,
    layer_dynamics_matrix,
    min_distance_change,
    train_test_similarity,
)
from .findings import FINDING_TITLES, Finding, Thresholds, evaluate_findings, findings_to_json
from .geometry import (
    centroid_movement,
    centroid_paths_pca,
    centroid_shift,
    label_centroids,
    pca_2d,
    shift_pca,
)
from .similarity import batched_pearson, bootstrap_ci, linear_cka, pearson, rsa

__all__ = [
    "FINDING_TITLES",
    "Finding",
    "MinDistanceChange",
    "Thresholds",
    "accuracy_change",
    "batched_pearson",
    "bootstrap_ci",
    "centroid_movement",
    "centroid_paths_pca",
    "centroid_shift",
    "cluster_change",
    "cross_task_change",
    "evaluate_findings",
    "findings_to_json",
    "label_centroids",
    "layer_dynamics",
    "layer_dynamics_matrix",
    "linear_cka",
    "min_distance_change",
    "pca_2d",
    "pearson",
    "plain",
    "rsa",
    "shift_pca",
    "train_test_similarity",
]
