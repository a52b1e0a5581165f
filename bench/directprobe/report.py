"""Render results.json as the tables in RESULTS.md (python bench/directprobe/report.py)."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    res = json.loads((HERE / "results.json").read_text())
    print("| case | N | labels | clusters | linear | CPU s | wall s | peak RSS MiB | solver calls "
          "| of which LP-decided |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    scale = [k for k in res if k.startswith("scale/")]
    scale.sort(key=lambda k: (k.split("/")[1], _size(k.split("/")[2])))
    for k in scale:
        r = res[k]
        _, case, n = k.split("/")
        if "n" not in r:
            print(f"| {case} | {n} | | | | | {r.get('wall_s', '')} | | {_why(r)} | |")
            continue
        st = r["stats"]
        lp = st.get("lp_sep", 0) + st.get("lp_overlap", 0)
        calls = st["solver_sep"] + st["solver_overlap"] + st["lp_fallback"] + lp
        lp_s = f"{lp} ({r['phase_s']['lp_decide']:.0f} s)" if "lp_decide" in r["phase_s"] else ""
        print(f"| {case} | {r['n']} | {r['n_labels']} | {r['n_clusters']} | {r['linear']} | "
              f"{r['cpu_s']} | {r['wall_s']} | {r.get('peak_rss_mib', '-')} | {calls} | {lp_s} |")
    print()
    print("| case | N | clusters | ftprobe CPU s | naive CPU s | naive LP checks | identical | "
          "speed-up (CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    for k, r in res.items():
        if not k.startswith("compare/") or "n" not in r:
            continue
        _, case, _n = k.split("/")
        ident = r.get("identical_clusters", "naive unfinished")
        sp = r.get("speedup_cpu", f">= {r.get('speedup_cpu_at_least')}")
        print(f"| {case} | {r['n']} | {r['n_clusters']} | {r['ftprobe_cpu_s']} | "
              f"{r['naive_cpu_s']} | {r['naive_lp_checks']} | {ident} | {sp} |")


def _size(n: str) -> float:
    return float("inf") if n == "full" else float(n)


def _why(r):
    if r.get("stopped_by_hand"):
        return f"stopped after {r['cpu_s_at_stop']} CPU s in the {r['phase_at_stop']} phase"
    if "timeout_s" in r:
        return f"timed out after {r['timeout_s']} s"
    return r.get("error", r.get("skipped", ""))[-200:].replace("\n", " ").replace("|", "/")


if __name__ == "__main__":
    main()
