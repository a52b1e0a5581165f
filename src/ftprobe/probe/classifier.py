"""One probe, scikit-learn style: ``fit(X, y)``, ``predict``, ``predict_proba``, ``score``.

These are the single-configuration face of :class:`~ftprobe.probe.batched.BatchedTrainer` (a
batch of one), for users who want one probe; the protocol trains whole grids at once instead.
Parameters follow scikit-learn's ``MLPClassifier`` (``alpha`` is its L2 convention), except
that early stopping is always on: on ``validation_data`` when given to ``fit``, else on a seeded
``validation_fraction`` slice of the training data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ftprobe.errors import UserError
from ftprobe.probe.batched import BatchedTrainer, ModelSpec, TrainedModel, resolve_device

__all__ = ["MLPProbe", "LinearProbe"]


class _ProbeBase:
    hidden_layer_sizes: tuple[int, ...] = ()

    def __init__(self, alpha: float = 1e-4, *, learning_rate_init: float = 1e-3,
                 batch_size: int = 200, max_iter: int = 1000, n_iter_no_change: int = 10,
                 tol: float = 1e-4, validation_fraction: float = 0.1, random_state: int = 0,
                 device: str = "auto"):
        self.alpha = alpha
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device

    def fit(self, X: np.ndarray, y: Sequence, validation_data: tuple | None = None):
        """Train on ``X`` [n, D] and labels ``y`` (any hashable values; ``classes_`` sorted)."""
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y)
        if X.ndim != 2 or len(X) != len(y) or len(y) == 0:
            raise UserError(f"fit: need a non-empty 2-D X with one label per row "
                            f"(got X {X.shape}, {len(y)} labels)")
        if not np.isfinite(X).all():
            raise UserError("fit: X contains NaN or infinite values")
        self.classes_, yi = np.unique(y, return_inverse=True)
        if validation_data is not None:
            Xv = np.asarray(validation_data[0], dtype=np.float32)
            yv = self._encode(np.asarray(validation_data[1]))
            Xt, yt = X, yi
        else:
            if len(y) < 2:
                raise UserError("fit: need at least 2 targets to hold out a validation slice")
            n_val = min(len(y) - 1, max(1, int(round(self.validation_fraction * len(y)))))
            perm = np.random.default_rng([self.random_state, 5]).permutation(len(y))
            vi, ti = np.sort(perm[:n_val]), np.sort(perm[n_val:])
            Xv, yv, Xt, yt = X[vi], yi[vi], X[ti], yi[ti]
        dev = resolve_device(self.device)
        spec = ModelSpec(0, tuple(self.hidden_layer_sizes), float(self.alpha), int(self.random_state))
        trainer = BatchedTrainer(
            [spec], max(2, len(self.classes_)), lr=self.learning_rate_init,
            batch_size=self.batch_size, max_iter=self.max_iter, patience=self.n_iter_no_change,
            tol=self.tol, device=dev,
        )
        (self.model_,) = trainer.fit(torch.from_numpy(Xt)[None], torch.from_numpy(yt),
                                     torch.from_numpy(Xv)[None], torch.from_numpy(yv))
        self.n_iter_ = self.model_.n_iter
        self.best_validation_score_ = self.model_.best_score
        return self

    def _encode(self, y: np.ndarray) -> np.ndarray:
        """Label indices; labels unknown to training become -1 (always counted wrong)."""
        pos = np.searchsorted(self.classes_, y)
        pos = np.clip(pos, 0, len(self.classes_) - 1)
        return np.where(self.classes_[pos] == y, pos, -1).astype(np.int64)

    def _logits(self, X: np.ndarray) -> torch.Tensor:
        m: TrainedModel = self.model_
        with torch.no_grad():
            return m.logits(torch.from_numpy(np.asarray(X, dtype=np.float32))).cpu()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return torch.softmax(self._logits(X), -1).numpy()[:, : len(self.classes_)]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self._logits(X)[:, : len(self.classes_)].argmax(1).numpy()]

    def score(self, X: np.ndarray, y: Sequence) -> float:
        """Accuracy; a label never seen in training counts as an error."""
        y = np.asarray(y)
        return float((self._encode(y) == self._encode(self.predict(X))).mean() if len(y) else 0.0)


class MLPProbe(_ProbeBase):
    """Two hidden ReLU layers (sizes ``hidden_layer_sizes``) and a softmax output."""

    def __init__(self, hidden_layer_sizes: Sequence[int] = (256, 256), alpha: float = 1e-4, **kw):
        super().__init__(alpha, **kw)
        self.hidden_layer_sizes = tuple(int(h) for h in hidden_layer_sizes)


class LinearProbe(_ProbeBase):
    """Multinomial logistic regression, trained with the same Adam + early-stopping protocol."""

    hidden_layer_sizes = ()
