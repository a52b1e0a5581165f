"""A DirectProbe fit's progress on disk, so that a long fit resumes where it stopped.

The merge phase of a big set runs for hours (the full EWT POS train set: about five on two
cores), one decision after another. Between two decisions the merge engine's state is
complete in plain arrays and tables: the clusters, their nearest-partner caches, the heap,
the rejected pairs, the kept planes and supports, and the kept LPs as rows and optimal basis
(put back frozen, so a resumed fit continues them warm and makes the same decisions). It is
written as one ``.npz`` of plain arrays, to a temporary name and then renamed, and read back
with ``allow_pickle=False``. The file also holds the label-pair phase's conflicts, the
counters, and a fingerprint of the inputs, so that a state is never resumed on other data.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ftprobe.probe.directprobe.slots import LabelSlots

FORMAT = 2  # 2: every table always present (format 1 files of older ftprobes are refused)


def fingerprint(X: np.ndarray, y: np.ndarray, tol: float, n_labels: int) -> str:
    """Hash of what decides a fit's answer: the vectors, the labels, tol and the label count."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": FORMAT, "shape": list(X.shape), "tol": float(tol),
                         "n_labels": int(n_labels)}).encode())
    h.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()


class StateMismatch(ValueError):
    """A state file written by a fit of other inputs, by an older ftprobe, or not a state file
    at all."""


class SavedState:
    """A state file opened for resuming: its decisions, conflicts, fingerprint and arrays."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.z = np.load(self.path, allow_pickle=False)
            self.decisions = int(self.z["dec"])
        except (OSError, ValueError, KeyError) as exc:
            raise StateMismatch(f"{self.path}: not a DirectProbe state file ({exc})") from None
        files = self.z.files
        written = int(self.z["format"]) if "format" in files else 0
        if written != FORMAT:
            raise StateMismatch(
                f"{self.path}: written by an older ftprobe (state format {written}, this one "
                f"reads {FORMAT}); remove it and refit")
        # The merge-phase benchmark saves states without them (it resumes its own runs only).
        self.fingerprint = str(self.z["fingerprint"]) if "fingerprint" in files else None
        self.conflict = self.z["conflict"] if "conflict" in files else None


def _ragged(d: dict):
    """dict of 1-D int arrays -> (keys, offsets, values) arrays."""
    keys = list(d)
    vals = [np.asarray(d[k], np.int64).ravel() for k in keys]
    off = np.cumsum([0] + [len(v) for v in vals])
    flat = np.concatenate(vals) if vals else np.zeros(0, np.int64)
    return np.array(keys, np.int64), off, flat


def save_state(eng, path: Path, decisions: int, conflict: np.ndarray | None = None,
               fingerprint: str | None = None) -> None:
    """Write the merge engine's state between two decisions (atomically: temporary name, then
    rename)."""
    path = Path(path)
    arr = {"format": np.int64(FORMAT), "dec": np.int64(decisions), "loc": eng.loc,
           "stats": np.array(json.dumps(vars(eng.stats)))}
    if fingerprint is not None:
        arr["fingerprint"] = np.array(fingerprint)
    if conflict is not None:
        arr["conflict"] = np.asarray(conflict)
    for lab, slots in eng.L.items():
        arr.update(slots.arrays(f"L{lab}."))
    mk = list(eng.members)
    arr["members.k"], arr["members.off"], arr["members.v"] = _ragged(
        {k: np.concatenate(eng.members[k]) for k in mk})
    arr["rej"] = np.array([(a, b) for a, bs in eng.rej.items() for b in sorted(bs)],
                          np.int64).reshape(-1, 2)
    arr["witness"] = np.array([(a, b) for a, bs in eng.witness.items() for b in sorted(bs)],
                              np.int64).reshape(-1, 2)
    pk = list(eng.planes)
    arr["planes.k"] = np.array(pk, np.int64).reshape(-1, 2)
    arr["planes.w"] = (np.stack([eng.planes[k][0] for k in pk]) if pk
                       else np.zeros((0, eng.X.shape[1])))
    arr["planes.lohi"] = np.array([eng.planes[k][1:] for k in pk], np.float64).reshape(-1, 2)
    sk = list(eng.support)
    arr["support.k"] = np.array(sk, np.int64).reshape(-1, 2)
    _, arr["support.off"], arr["support.v"] = _ragged({i: eng.support[k] for i, k in enumerate(sk)})
    ok = [(a, c) for a, d in eng.overlap_rows.items() for c in d]
    arr["overlap.k"] = np.array(ok, np.int64).reshape(-1, 2)
    # each pair's two row sets (its cluster's side, then the other's) one after the other
    sides = [r for a, c in ok for r in eng.overlap_rows[a][c]]
    _, arr["overlap.off"], arr["overlap.v"] = _ragged(dict(enumerate(sides)))
    # Kept LPs: rows (global rows per block, side flags), the optimal basis and the optimum;
    # loaded frozen, so a resumed fit continues them warm as the uninterrupted one would.
    lk = list(eng.lps)
    arr["lps.k"] = np.array(lk, np.int64).reshape(-1, 2)
    arr["lps.pside"] = np.array([eng.lps[k][0] for k in lk], np.int64)
    blocks = [b for k in lk for b in eng.lps[k][2]]
    arr["lps.nblocks"] = np.array([len(eng.lps[k][2]) for k in lk], np.int64)
    arr["lps.onp"] = np.array([onp for _, onp in blocks], bool)
    _, arr["lps.off"], arr["lps.rows"] = _ragged({i: r for i, (r, _) in enumerate(blocks)})
    bases = [eng.lps[k][1].basis_statuses() for k in lk]
    arr["lps.basis"] = np.concatenate([x for b in bases if b is not None for x in b] + [np.zeros(0, np.int8)])
    arr["lps.valid"] = np.array([b is not None for b in bases], bool)
    opt = [eng.lps[k][1].optimum for k in lk]
    arr["lps.has_opt"] = np.array([o is not None for o in opt], bool)
    arr["lps.t_b"] = np.array([(o[0], o[2]) if o else (0.0, 0.0) for o in opt], np.float64).reshape(-1, 2)
    arr["lps.w"] = (np.stack([o[1] if o else np.zeros(eng.X.shape[1]) for o in opt]) if opt
                    else np.zeros((0, eng.X.shape[1])))
    arr["heap.d"] = np.array([e[0] for e in eng.heap], np.float64)
    arr["heap.i"] = np.array([e[1:] for e in eng.heap], np.int64).reshape(-1, 5)
    tmp = path.with_name(path.name + ".tmp.npz")
    try:
        np.savez(tmp, **arr)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def restore_engine(eng, saved: SavedState) -> int:
    """Put a saved state into a freshly built engine (same inputs); returns its decisions."""
    z = saved.z
    eng.loc = z["loc"]
    for lab in eng.L:
        eng.L[lab] = LabelSlots.from_arrays(z, f"L{lab}.")
    eng.stats.__dict__.update(json.loads(str(z["stats"])))
    k, off, v = z["members.k"], z["members.off"], z["members.v"]
    eng.members = {int(k[i]): [v[off[i] : off[i + 1]]] for i in range(len(k))}
    eng.rej = {}
    for a, b in z["rej"].tolist():
        eng.rej.setdefault(a, set()).add(b)
    eng.witness = {}
    for a, b in z["witness"].tolist():
        eng.witness.setdefault(a, set()).add(b)
    eng.overlap_rows = {}
    off, v = z["overlap.off"], z["overlap.v"]
    for i, (a, c) in enumerate(z["overlap.k"].tolist()):
        eng.overlap_rows.setdefault(a, {})[c] = (v[off[2 * i] : off[2 * i + 1]],
                                                 v[off[2 * i + 1] : off[2 * i + 2]])
    w, lohi = z["planes.w"], z["planes.lohi"]
    eng.planes = {(a, b): (w[i], float(lohi[i, 0]), float(lohi[i, 1]))
                  for i, (a, b) in enumerate(z["planes.k"].tolist())}
    off, v = z["support.off"], z["support.v"]
    eng.support = {(a, b): v[off[i] : off[i + 1]] for i, (a, b) in enumerate(z["support.k"].tolist())}
    eng.plane_keys = {}
    for key in list(eng.planes) + list(eng.support):
        for c in key:
            eng.plane_keys.setdefault(c, set()).add(key)
    eng.lps = {}
    _restore_lps(eng, z)
    eng.heap = [(d, *i) for d, i in zip(z["heap.d"].tolist(), z["heap.i"].tolist(), strict=True)]
    return saved.decisions


def _restore_lps(eng, z) -> None:
    """The kept LPs, frozen: their rows (blocks) and basis, rebuilt in HiGHS when a check
    continues them."""
    from ftprobe.probe.directprobe.separability import _MarginLP

    dim = eng.X.shape[1]
    off, rows, onp = z["lps.off"], z["lps.rows"], z["lps.onp"]
    basis, pos, blk = z["lps.basis"], 0, 0
    for i, (a, b) in enumerate(z["lps.k"].tolist()):
        nb = int(z["lps.nblocks"][i])
        blocks = [(rows[off[j] : off[j + 1]], bool(onp[j])) for j in range(blk, blk + nb)]
        blk += nb
        n, nc = sum(len(r) for r, _ in blocks), dim + 2
        statuses = (basis[pos : pos + nc], basis[pos + nc : pos + nc + n]) if z["lps.valid"][i] else None
        if z["lps.valid"][i]:  # only valid bases are stored
            pos += nc + n
        optimum = None
        if z["lps.has_opt"][i]:
            t, b0 = z["lps.t_b"][i]
            optimum = (float(t), z["lps.w"][i].copy(), float(b0))
        # HiGHS rebuilds it if continued
        model = _MarginLP.from_frozen_state(dim, n, statuses, optimum, eng.tuning)
        eng.lps[(a, b)] = (int(z["lps.pside"][i]), model, blocks)
