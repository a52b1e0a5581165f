"""The report's figures (matplotlib, Agg backend), each returned as PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _nan(v):
    return np.array([np.nan if x is None else x for x in v], dtype=float)


def accuracy_bars(runs: list[dict]) -> bytes | None:
    rows = []
    for r in runs:
        if not r["table"]:
            continue
        row = r["table"][-1]
        if row.get("accuracy_after") is None:
            continue
        rows.append((f"{r['model']}\n{r['task']}\nL{row['layer']}", row))
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(max(4, 1.4 * len(rows)), 3.2))
    x = np.arange(len(rows))
    for off, side, color in ((-0.2, "before", "#999"), (0.2, "after", "#2a6")):
        vals = [100 * (row[f"accuracy_{side}"] or np.nan) for _, row in rows]
        errs = [100 * (row[f"accuracy_{side}_std"] or 0) for _, row in rows]
        ax.bar(x + off, vals, 0.4, yerr=errs, label=side, color=color, capsize=3)
    ax.set_xticks(x, [n for n, _ in rows], fontsize=7)
    ax.set_ylabel("probe accuracy (%)")
    lo = min(100 * (row["accuracy_before"] or 0) for _, row in rows)
    ax.set_ylim(max(0, lo - 15), 100)
    ax.legend(fontsize=7)
    ax.set_title("MLP probe accuracy (last DirectProbe layer)", fontsize=9)
    return _png(fig)


def layer_dynamics(run: dict) -> bytes | None:
    dyn = run.get("layer_dynamics")
    if not dyn or len(dyn["points"]) < 2:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.2))
    x = np.arange(len(dyn["points"]))
    for layer in dyn["layers"]:
        ax.plot(x, _nan(dyn["pearson"][layer]), marker="o", ms=3, label=f"layer {layer}")
    ax.set_xticks(x, dyn["points"], rotation=30, fontsize=6, ha="right")
    ax.set_ylabel("Pearson with original layer")
    ax.set_title(f"{run['model']} / {run['task']}: layer dynamics", fontsize=9)
    ax.legend(fontsize=6)
    return _png(fig)


def min_distance_series(run: dict) -> bytes | None:
    s = run.get("min_distance_series")
    if not s or len(s["points"]) < 2:
        return None
    layer = max(s["by_layer"], key=int)
    M = np.array([_nan(v) for v in s["by_layer"][layer]])  # [P, K]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    x = np.arange(M.shape[0])
    change = M[-1] - M[0]
    order = np.argsort(np.where(np.isfinite(change), change, -np.inf))
    show = set(order[-3:].tolist()) | set(np.argsort(np.where(np.isfinite(change), change, np.inf))[:3].tolist())
    for k in range(M.shape[1]):
        if not np.isfinite(M[:, k]).any():
            continue
        if k in show:
            ax.plot(x, M[:, k], marker="o", ms=3, lw=1.5, label=run["labels"][k])
        else:
            ax.plot(x, M[:, k], color="#ccc", lw=0.7)
    ax.set_xticks(x, s["points"], rotation=30, fontsize=6, ha="right")
    ax.set_ylabel("min distance to another label")
    ax.set_title(f"{run['model']} / {run['task']}: per-label min distance, layer {layer}", fontsize=9)
    ax.legend(fontsize=6)
    return _png(fig)


def centroid_paths(run: dict) -> bytes | None:
    paths = run.get("centroid_paths") or {}
    if not paths:
        return None
    fig, axes = plt.subplots(1, len(paths), figsize=(4.2 * len(paths), 3.4), squeeze=False)
    for ax, (layer, p) in zip(axes[0], sorted(paths.items(), key=lambda kv: int(kv[0])), strict=True):
        C = np.array(p["coords"], dtype=float)  # [S, m, 2]
        for j, name in enumerate(p["labels"]):
            ax.plot(C[:, j, 0], C[:, j, 1], marker="o", ms=3, label=name)
            ax.annotate("start", C[0, j], fontsize=5)
        ax.set_title(f"layer {layer}: closest labels' centroid paths (PCA)", fontsize=8)
        ax.legend(fontsize=6)
    fig.suptitle(f"{run['model']} / {run['task']}", fontsize=9)
    return _png(fig)


def shift_pca(run: dict, max_layers: int = 4) -> bytes | None:
    sp = run.get("shift_pca") or {}
    if not sp:
        return None
    layers = sorted(sp, key=int)
    if len(layers) > max_layers:
        idx = np.linspace(0, len(layers) - 1, max_layers).round().astype(int)
        layers = [layers[i] for i in sorted(set(idx))]
    fig, axes = plt.subplots(1, len(layers), figsize=(3.2 * len(layers), 3.2), squeeze=False)
    for ax, layer in zip(axes[0], layers, strict=True):
        C = np.array(sp[layer]["coords"], dtype=float)
        ax.scatter(C[:, 0], C[:, 1], s=10)
        if len(run["labels"]) <= 20:
            for k, name in enumerate(run["labels"]):
                if np.isfinite(C[k]).all():
                    ax.annotate(name, C[k], fontsize=5)
        ax.set_title(f"layer {layer}", fontsize=8)
    fig.suptitle(f"{run['model']} / {run['task']}: PCA of centroid shifts (after - before)", fontsize=9)
    return _png(fig)


def per_layer(run: dict) -> bytes | None:
    mv = run.get("centroid_movement") or {}
    sim = run.get("similarity") or {}
    if not mv and not sim:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.2))
    layers = sorted(set(mv) | set(sim), key=int)
    x = [int(v) for v in layers]
    if mv:
        ax.plot(x, _nan([mv.get(k, {}).get("mean") for k in layers]), marker="o", color="#c42",
                label="centroid movement (left)")
        ax.set_ylabel("mean centroid movement")
    ax2 = ax.twinx()
    if sim:
        ax2.plot(x, _nan([sim.get(k, {}).get("cka") for k in layers]), marker="s", label="linear CKA")
        ax2.plot(x, _nan([sim.get(k, {}).get("rsa") for k in layers]), marker="^", label="RSA")
        ax2.set_ylabel("similarity before vs after")
        ax2.set_ylim(-0.05, 1.05)
    ax.set_xlabel("layer")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=6, loc="center left", framealpha=0.8)
    ax.set_title(f"{run['model']} / {run['task']}: change per layer", fontsize=9)
    return _png(fig)


def cross_task(rows: list[dict]) -> bytes | None:
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(max(4, 1.3 * len(rows)), 3))
    names = [f"{r['model']}\n{r['finetune_task']}->{r['probe_task']}\nL{r['layer']}" for r in rows]
    vals = _nan([r.get("mean_change") for r in rows])
    ax.bar(np.arange(len(rows)), vals, color=["#2a6" if v > 0 else "#c42" for v in np.nan_to_num(vals)])
    ax.axhline(0, color="k", lw=0.7)
    ax.set_xticks(np.arange(len(rows)), names, fontsize=6)
    ax.set_ylabel("mean change of min distance")
    ax.set_title("cross-task: fine-tune on A, probe B", fontsize=9)
    return _png(fig)
