"""Train many small classifier probes at once: stacked weights, one batched matmul per layer.

A probe grid is hundreds of tiny networks (16 hidden sizes x 8 L2 weights x every encoder layer x
5 seeds). Trained one by one, each is dominated by per-step overhead and small matrix products;
stacked, models of the same shape share every kernel launch (``torch.bmm`` over a leading model
axis). Nothing else is shared: each model has its own weights, its own Adam moments (Adam on a
stacked tensor is element-wise, hence per model), its own L2 weight, its own early stopping, and
its own random streams, so a model trained in a batch ends where it would alone (same seed).

Conventions, chosen to match scikit-learn's ``MLPClassifier`` so that grids transfer:

* Glorot-uniform init of weights and biases, bound ``sqrt(6 / (fan_in + fan_out))``;
* loss = mean cross-entropy of the minibatch + ``alpha / (2 * batch)`` * sum of squared weights
  (biases are not penalised), which is scikit-learn's ``alpha`` convention;
* Adam with lr 1e-3, betas (0.9, 0.999), eps 1e-8 (PyTorch's form, fused kernel when there is
  one; it differs from scikit-learn's only in scaling eps by ``sqrt(1 - beta2^t)``);
* an *iteration* is an epoch over the training set, minibatches of ``batch_size`` in a fresh
  permutation each epoch (the last batch may be smaller);
* early stopping on validation accuracy: an epoch that does not beat the best score by ``tol``
  counts against ``patience``; after more than ``patience`` such epochs in a row the model stops
  and keeps the weights of its best epoch.

Random streams: a model's initial weights come from ``numpy.random.default_rng([seed, 1])``, its
epoch permutations from ``default_rng([seed, 2])``. Permutations therefore depend on the seed only,
and all models sharing a seed share them (one gather per step instead of one per model).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ftprobe.device import resolve_device
from ftprobe.errors import SettingError

__all__ = ["ModelSpec", "TrainedModel", "BatchedTrainer", "denormals_flushed", "flushed_denormals",
           "resolve_device", "resolve_precision",
           "stack_inputs", "predict_logits"]


@dataclass(frozen=True)
class ModelSpec:
    """One probe to train: which input (``layer`` indexes the stacked inputs), its shape and seed."""

    layer: int
    hidden: tuple[int, ...]
    alpha: float
    seed: int
    tag: object = None  # free-form, carried through (the protocol puts the layer name here)


@dataclass
class TrainedModel:
    """A finished probe: its best weights (on CPU), best validation accuracy and epochs run."""

    spec: ModelSpec
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    best_score: float
    n_iter: int
    best_iter: int
    pruned: bool = False
    curve: list[float] = field(default_factory=list)

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        h = X
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.to(h.device) + b.to(h.device)
            if i < len(self.weights) - 1:
                h = torch.relu(h)
        return h


def _cpu_has_fast_bf16() -> bool:
    """True on CPUs with AMX bf16 tiles (bf16 matmuls there run ~8x faster than fp32)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "amx_bf16" in line.split()
    except OSError:
        pass
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` -> ``"bf16"`` where bf16 matmuls are fast (CUDA with bf16, CPU with AMX)."""
    if precision not in ("auto", "fp32", "bf16"):
        raise SettingError("precision", f"expected auto, fp32 or bf16, not {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and _cpu_has_fast_bf16() else "fp32"


def stack_inputs(layers: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """[L, n, D] float32 tensor from per-layer arrays (memmaps are read once here)."""
    arrs = [np.asarray(x, dtype=np.float32) for x in layers]
    return torch.from_numpy(np.stack(arrs)).to(device)


def glorot_init(spec: ModelSpec, n_in: int, n_out: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """scikit-learn's initialisation for a ReLU MLP, from the model's own init stream."""
    rng = np.random.default_rng([spec.seed, 1])
    sizes = [n_in, *spec.hidden, n_out]
    ws, bs = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        ws.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
        bs.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return ws, bs


_FUSED_ADAM = getattr(torch, "_fused_adam_", None)  # one pass over p, g, m, v instead of five


def denormals_flushed() -> bool:
    """Whether this process's CPU arithmetic flushes subnormal floats to zero (torch's setting)."""
    return (torch.tensor([1e-39], dtype=torch.float32) * 1.0).item() == 0.0


@contextlib.contextmanager
def flushed_denormals():
    """CPU arithmetic with subnormal floats flushed to zero inside, the caller's setting after.

    Adam's second moments of weights that stop receiving gradient (a dead ReLU, a feature that
    hardly varies) decay geometrically into the subnormal range, where x86 arithmetic is 10-100x
    slower: TREC-50's probe grid on MiniLM's layer 4 took 10x the CPU time per epoch of the
    same grid with them flushed (bench/probes/RESULTS.md). Values below 1.2e-38 carry nothing a
    probe's accuracy can see.
    """
    before = denormals_flushed()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


class _Group:
    """Models of one shape, stacked on a leading axis, with their Adam state."""

    def __init__(self, idx: list[int], specs: list[ModelSpec], n_in: int, n_out: int,
                 device: torch.device):
        self.idx = torch.tensor(idx, dtype=torch.long)  # positions in the trainer's spec list
        inits = [glorot_init(s, n_in, n_out) for s in specs]
        n_layers = len(inits[0][0])
        self.W = [torch.from_numpy(np.stack([w[j] for w, _ in inits])).to(device)
                  for j in range(n_layers)]
        self.b = [torch.from_numpy(np.stack([b[j] for _, b in inits])).to(device)
                  for j in range(n_layers)]
        self.params = self.W + self.b
        for p in self.params:
            p.requires_grad_(True)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.alpha = torch.tensor([s.alpha for s in specs], dtype=torch.float32, device=device)
        self.layer = torch.tensor([s.layer for s in specs], dtype=torch.long, device=device)
        self.seed_slot = torch.zeros(len(specs), dtype=torch.long, device=device)
        self.best = [p.detach().clone() for p in self.params]
        self.steps = [torch.zeros((), dtype=torch.float32, device=device) for _ in self.params]

    def __len__(self) -> int:
        return len(self.idx)

    def forward(self, xb: torch.Tensor) -> torch.Tensor:
        h = xb
        last = len(self.W) - 1
        for j, (w, b) in enumerate(zip(self.W, self.b, strict=True)):
            h = torch.baddbmm(b.unsqueeze(1), h, w)
            if j < last:
                h = torch.relu(h)
        return h

    def keep(self, mask: torch.Tensor) -> None:
        """Drop the models where ``mask`` is False (stopped or pruned) from every tensor."""
        dev = self.alpha.device
        sel = mask.to(dev)
        self.idx = self.idx[mask.cpu()]
        self.W = [p.detach()[sel].requires_grad_(True) for p in self.W]
        self.b = [p.detach()[sel].requires_grad_(True) for p in self.b]
        self.params = self.W + self.b
        self.m = [t[sel] for t in self.m]
        self.v = [t[sel] for t in self.v]
        self.best = [t[sel] for t in self.best]
        self.alpha = self.alpha[sel]
        self.layer = self.layer[sel]
        self.seed_slot = self.seed_slot[sel]


class BatchedTrainer:
    """Train a list of :class:`ModelSpec` on shared data, all models in lock-step epochs.

    ``X`` is ``[L, n, D]`` (one slice per input layer; ``spec.layer`` picks it), ``y`` the ``n``
    integer targets in ``[0, n_out)``. Validation data has the same layout.
    """

    def __init__(self, specs: Sequence[ModelSpec], n_out: int, *, lr: float = 1e-3,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 batch_size: int = 200, max_iter: int = 1000, patience: int = 10,
                 tol: float = 1e-4, device: str | torch.device = "auto",
                 precision: str = "fp32", stop_on: str = "accuracy", eval_chunk: int = 4096):
        self.specs = list(specs)
        if not self.specs:
            raise ValueError("no models to train")
        self.n_out = int(n_out)
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.batch_size = int(batch_size)
        self.max_iter = int(max_iter)
        self.patience = int(patience)
        self.tol = float(tol)
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        if stop_on not in ("accuracy", "loss"):
            raise ValueError(f"stop_on must be accuracy or loss, not {stop_on!r}")
        self.stop_on = stop_on  # loss: the score is minus the mean validation cross-entropy
        self.eval_chunk = int(eval_chunk)

    # -- training ---------------------------------------------------------------------------

    def fit(self, X: torch.Tensor, y: torch.Tensor, X_val: torch.Tensor, y_val: torch.Tensor,
            prune: Callable[[int, np.ndarray, np.ndarray], np.ndarray] | None = None,
            ) -> list[TrainedModel]:
        """Train every model; return them in spec order.

        ``prune(epoch, best_scores, alive)`` may be given to stop hopeless models early (successive
        halving): called after every epoch with each model's best validation accuracy so far and
        whether it is still a candidate; it returns the new candidate mask. A pruned model stops
        at once and is flagged ``pruned``.
        """
        with flushed_denormals():
            return self._fit(X, y, X_val, y_val, prune)

    def _fit(self, X, y, X_val, y_val, prune) -> list[TrainedModel]:
        dev = self.device
        in_dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        X = X.to(dev, in_dtype)
        X_val = X_val.to(dev, in_dtype)
        y = y.to(dev, torch.long)
        y_val = y_val.to(dev, torch.long)
        n, d_in = X.shape[1], X.shape[2]
        if n == 0 or X_val.shape[1] == 0:
            raise ValueError("empty training or validation data")
        G = len(self.specs)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, s in enumerate(self.specs):
            by_shape.setdefault(tuple(s.hidden), []).append(i)
        groups = [
            _Group(ix, [self.specs[i] for i in ix], d_in, self.n_out, dev)
            for _, ix in sorted(by_shape.items())
        ]
        seeds = sorted({s.seed for s in self.specs})
        seed_pos = {s: k for k, s in enumerate(seeds)}
        for g in groups:
            g.seed_slot = torch.tensor([seed_pos[self.specs[i].seed] for i in g.idx.tolist()],
                                       dtype=torch.long, device=dev)
        shuffles = [np.random.default_rng([s, 2]) for s in seeds]

        best_score = np.full(G, -np.inf)
        no_improve = np.zeros(G, dtype=np.int64)
        n_iter = np.zeros(G, dtype=np.int64)
        best_iter = np.zeros(G, dtype=np.int64)
        alive = np.ones(G, dtype=bool)  # still a candidate (not pruned)
        pruned = np.zeros(G, dtype=bool)
        curves: list[list[float]] = [[] for _ in range(G)]
        finished: dict[int, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}

        B = min(self.batch_size, n)
        for epoch in range(1, self.max_iter + 1):
            if not groups:
                break
            perms = torch.from_numpy(np.stack([r.permutation(n) for r in shuffles])).to(dev)
            for start in range(0, n, B):
                rows = perms[:, start:start + B]  # [S, b]
                for g in groups:
                    self._step(g, X, y, rows)
            # validation, bookkeeping, early stopping; one device->host copy for all groups
            # (a copy per group would drain a GPU's queue once per group and epoch)
            all_scores = torch.cat([self._score(g, X_val, y_val) for g in groups]).cpu().numpy()
            offsets = np.cumsum([0] + [len(g) for g in groups])
            for gk, g in enumerate(groups):
                scores = all_scores[offsets[gk]:offsets[gk + 1]]
                gi = g.idx.numpy()
                n_iter[gi] = epoch
                improved = scores > best_score[gi]
                significant = scores >= best_score[gi] + self.tol
                no_improve[gi] = np.where(significant, 0, no_improve[gi] + 1)
                if improved.any():
                    keep_new = torch.from_numpy(improved).to(dev)
                    for bt, p in zip(g.best, g.params, strict=True):
                        bt[keep_new] = p.detach()[keep_new]
                best_iter[gi[improved]] = epoch
                best_score[gi] = np.maximum(best_score[gi], scores)
                for k, s in zip(gi.tolist(), scores.tolist(), strict=True):
                    curves[k].append(s)
            if prune is not None:
                new_alive = np.asarray(prune(epoch, best_score.copy(), alive.copy()), dtype=bool)
                # A model that already stopped on its own is not pruned afterwards: its result
                # must not depend on how long other models (other layers) keep training.
                done = np.zeros(G, dtype=bool)
                done[list(finished)] = True
                new_alive |= alive & done
                pruned |= alive & ~new_alive
                alive = new_alive
            new_groups = []
            for g in groups:
                gi = g.idx.numpy()
                stop = (no_improve[gi] > self.patience) | ~alive[gi] | (epoch >= self.max_iter)
                for k in np.flatnonzero(stop):
                    nl = len(g.W)
                    finished[int(gi[k])] = ([t[k].cpu() for t in g.best[:nl]],
                                            [t[k].cpu() for t in g.best[nl:]])
                if stop.all():
                    continue
                if stop.any():
                    g.keep(torch.from_numpy(~stop))
                new_groups.append(g)
            groups = new_groups
        for g in groups:  # max_iter reached (loop ended without the stop branch)
            nl = len(g.W)
            for k, i in enumerate(g.idx.tolist()):
                finished[i] = ([t[k].cpu() for t in g.best[:nl]], [t[k].cpu() for t in g.best[nl:]])
        return [
            TrainedModel(spec=s, weights=finished[i][0], biases=finished[i][1],
                         best_score=float(best_score[i]), n_iter=int(n_iter[i]),
                         best_iter=int(best_iter[i]), pruned=bool(pruned[i]), curve=curves[i])
            for i, s in enumerate(self.specs)
        ]

    def _step(self, g: _Group, X: torch.Tensor, y: torch.Tensor, rows: torch.Tensor) -> None:
        idx = rows[g.seed_slot]  # [G, b]
        xb = X[g.layer.unsqueeze(1), idx]  # [G, b, D]
        yb = y[idx]  # [G, b]
        b = idx.shape[1]
        with self._autocast():
            logits = g.forward(xb)
        ce = torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, self.n_out), yb.reshape(-1), reduction="sum"
        ) / b  # sum over models of each model's mean loss: the models stay independent
        grads = list(torch.autograd.grad(ce, g.params))
        with torch.no_grad():
            # L2: d/dW [alpha / (2b) * ||W||^2] = alpha / b * W (weights only, as scikit-learn)
            scale = (g.alpha / b).view(-1, 1, 1)
            for j, w in enumerate(g.W):
                grads[j].addcmul_(w, scale)
            params = [p.detach() for p in g.params]
            torch._foreach_add_(g.steps, 1.0)  # one launch for all step counters
            if _FUSED_ADAM is not None:
                _FUSED_ADAM(params, grads, g.m, g.v, [], g.steps, lr=self.lr, beta1=self.beta1,
                            beta2=self.beta2, weight_decay=0.0, eps=self.eps, amsgrad=False,
                            maximize=False)
                return
            t = float(g.steps[0])
            bc1, bc2 = 1 - self.beta1 ** t, math.sqrt(1 - self.beta2 ** t)
            for p, gr, m, v in zip(params, grads, g.m, g.v, strict=True):
                m.lerp_(gr, 1 - self.beta1)
                v.mul_(self.beta2).addcmul_(gr, gr, value=1 - self.beta2)
                p.addcdiv_(m, (v.sqrt() / bc2).add_(self.eps), value=-self.lr / bc1)

    def _autocast(self):
        """bf16 matmuls (fp32 weights, Adam state and loss) when precision is bf16."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.precision == "bf16")

    @torch.no_grad()
    def _score(self, g: _Group, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each model's validation score, float64 on the device (accuracy, or minus the loss)."""
        total = torch.zeros(len(g), dtype=torch.float64, device=X.device)
        n = X.shape[1]
        for start in range(0, n, self.eval_chunk):
            xb = X[g.layer, start:start + self.eval_chunk]  # [G, c, D]
            yb = y[start:start + self.eval_chunk]
            with self._autocast():
                logits = g.forward(xb)
            if self.stop_on == "loss":
                lp = torch.log_softmax(logits.float(), -1)
                nll = -lp.gather(2, yb.clamp(min=0).expand(len(g), -1).unsqueeze(2)).squeeze(2)
                total += (nll * (yb >= 0)).sum(1)  # labels < 0 (unknown) are left out
            else:
                total += (logits.argmax(-1) == yb).sum(1)
        score = total / n
        return -score if self.stop_on == "loss" else score


@torch.no_grad()
def predict_logits(models: Sequence[TrainedModel], X: torch.Tensor, chunk: int = 8192,
                   ) -> list[torch.Tensor]:
    """Logits of each finished model on its own layer of ``X`` ([L, n, D]), on CPU."""
    out = []
    for m in models:
        parts = [m.logits(X[m.spec.layer, s:s + chunk]).cpu() for s in range(0, X.shape[1], chunk)]
        out.append(torch.cat(parts) if parts else torch.zeros(0, m.biases[-1].shape[0]))
    return out
