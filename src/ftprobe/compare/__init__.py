"""compare: the paper's analyses as plain functions on stored results.

Similarity of spaces (Pearson of distance vectors, bootstrap CIs, debiased linear CKA,
Procrustes, mutual k-NN, RSA), each calibrated against its permutation null; per-layer geometry
(effective rank, isotropy, TwoNN intrinsic dimension); a shuffled-label DirectProbe control;
label centroid geometry and its PCA views, before/after dynamics (min distance, layers,
cross-task, accuracy, clusters, train/test), and the six findings as checks.
"""

from ._plain import plain
from .cka import linear_cka
from .control import LabelControl, directprobe_label_control
from .dynamics import (
    AccuracyChange,
    ClusterChange,
    CrossTaskChange,
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
    CentroidMovement,
    centroid_movement,
    centroid_paths_pca,
    centroid_shift,
    label_centroids,
    pca_2d,
    shift_pca,
    space_scale,
)
from .knn import knn_overlap, mutual_knn, nearest_neighbours
from .null import NullResult, half_sample_interval, mantel_null, permutation_null
from .procrustes import procrustes_distance
from .similarity import batched_pearson, bootstrap_ci, pearson, rsa
from .spectrum import effective_rank, isotropy
from .twonn import intrinsic_dimension

__all__ = [
    "AccuracyChange",
    "CentroidMovement",
    "ClusterChange",
    "CrossTaskChange",
    "FINDING_TITLES",
    "Finding",
    "LabelControl",
    "MinDistanceChange",
    "NullResult",
    "Thresholds",
    "accuracy_change",
    "batched_pearson",
    "bootstrap_ci",
    "centroid_movement",
    "centroid_paths_pca",
    "centroid_shift",
    "cluster_change",
    "cross_task_change",
    "directprobe_label_control",
    "effective_rank",
    "half_sample_interval",
    "intrinsic_dimension",
    "isotropy",
    "knn_overlap",
    "mantel_null",
    "mutual_knn",
    "nearest_neighbours",
    "permutation_null",
    "procrustes_distance",
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
    "space_scale",
    "train_test_similarity",
]
