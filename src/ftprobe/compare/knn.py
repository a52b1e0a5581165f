"""Exact k-nearest neighbours in blocks of rows (torch, on the GPU when present), and the
mutual k-NN agreement of two spaces over the same points.

Squared distances of a block of rows to all rows come from one matrix product on centred
float64 data; self-matches are excluded; the k smallest per row are taken with ``topk``. The
block is sized so its distance matrix stays under a fixed number of bytes, so working memory
does not grow with N beyond the data itself. Distances returned are recomputed directly from
the chosen pairs (no cancellation from the |a|^2 + |b|^2 - 2ab expansion).
"""

from __future__ import annotations

import numpy as np

from ._validate import paired, positive_int, space

__all__ = ["nearest_neighbours", "knn_overlap", "mutual_knn", "overlap_of", "resolve_device"]

_BLOCK_BYTES = {"cpu": 1 << 27, "cuda": 1 << 31}  # bytes of one block's float64 distance matrix


def resolve_device(device: str | None) -> str:
    """``"auto"``/None: CUDA when torch sees one, else CPU; otherwise the name as given."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: no CUDA device is visible")
    return str(device)


def _block_rows(n: int, device: str) -> int:
    budget = _BLOCK_BYTES["cuda" if device.startswith("cuda") else "cpu"]
    return max(1, min(n, budget // (8 * max(n, 1))))


def nearest_neighbours(X, k: int, device: str | None = "auto", name: str = "X",
                       distances: bool = True):
    """(distances [N, k], indices [N, k]) of each row's k nearest other rows, nearest first.

    Exact (float64); ties between equidistant neighbours are broken arbitrarily. With
    ``distances=False`` the distances are None and the order comes from the matrix-product
    ranking alone (skips gathering the k neighbours' vectors).
    """
    import torch

    k = positive_int("k", k)
    X = space(name, X, min_rows=2)
    n = X.shape[0]
    if k >= n:
        raise ValueError(f"k must be < the number of rows ({n}), got k={k}")
    dev = resolve_device(device)
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float64), device=dev)
    Xt = Xt - Xt.mean(dim=0)
    sq = (Xt * Xt).sum(dim=1)
    step = _block_rows(n, dev)
    idx = torch.empty((n, k), dtype=torch.int64, device=dev)
    dist = torch.empty((n, k) if distances else (0, k), dtype=torch.float64, device=dev)
    for s in range(0, n, step):
        e = min(n, s + step)
        # |x_j|^2 - 2 x_i.x_j ranks neighbours of row i (|x_i|^2 is constant along the row).
        d = torch.addmm(sq[None, :].expand(e - s, n), Xt[s:e], Xt.T, alpha=-2.0)
        rows = torch.arange(e - s, device=dev)
        d[rows, rows + s] = float("inf")
        idx[s:e] = torch.topk(d, k, dim=1, largest=False, sorted=True).indices
        del d
        if not distances:
            continue
        # Distances of the chosen pairs from their difference vectors, block by block.
        near = torch.index_select(Xt, 0, idx[s:e].reshape(-1)).reshape(e - s, k, -1)
        dist[s:e] = torch.linalg.vector_norm(near - Xt[s:e, None, :], dim=2)
    if not distances:
        return None, idx.cpu().numpy()
    # Re-sort by the exact distances (the expansion may swap near-equal neighbours).
    dist, order = torch.sort(dist, dim=1)
    idx = torch.gather(idx, 1, order)
    return dist.cpu().numpy(), idx.cpu().numpy()


def overlap_of(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """Per-row share of ``ix``'s neighbours also in ``iy`` (both [N, k] index arrays)."""
    ix = np.asarray(ix)
    iy = np.asarray(iy)
    k = ix.shape[1]
    out = np.empty(ix.shape[0])
    step = max(1, (1 << 24) // (k * k))
    for s in range(0, ix.shape[0], step):
        hit = ix[s : s + step, :, None] == iy[s : s + step, None, :]
        out[s : s + step] = hit.any(axis=2).sum(axis=1) / k
    return out


def knn_overlap(X, Y, k: int = 10, device: str | None = "auto") -> np.ndarray:
    """Per point: the share of its k nearest neighbours in X that are also among those in Y."""
    k = positive_int("k", k)
    X, Y = paired(X, Y, min_rows=2)
    if k >= X.shape[0]:
        raise ValueError(f"k must be < the number of rows ({X.shape[0]}), got k={k}")
    _, ix = nearest_neighbours(X, k, device, name="X", distances=False)
    _, iy = nearest_neighbours(Y, k, device, name="Y", distances=False)
    return overlap_of(ix, iy)


def mutual_knn(X, Y, k: int = 10, device: str | None = "auto") -> float:
    """Mean overlap of the two spaces' k-nearest-neighbour sets: 1 for spaces with the same
    neighbourhoods, k/(N-1) expected for independent ones. Exact; GPU when present."""
    return float(knn_overlap(X, Y, k, device).mean())
