"""What the study cost: wall and CPU time by stage and the machines the steps ran on (results.json's
``cost``, read off the steps, so a study run in pieces over several sessions or machines adds up)."""

from __future__ import annotations

from ftprobe.report.results_model import StudyResults
from ftprobe.report.tables import Table

CAPTION = ("Per stage (a kind of step): the steps, the wall seconds each step took inside its worker, "
           "summed, and their CPU seconds (with the processes a step waited for). Steps that ran side "
           "by side overlap, so the sums are machine time, not elapsed time. CPU time is missing for "
           "steps finished by a version that did not record it.")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 5400 else f"{seconds / 60:.1f} min"


def cost_table(results: StudyResults) -> Table | None:
    cost = results.cost
    if cost is None or not cost.stages:
        return None
    rows = []
    for s in (*cost.stages, cost.total):
        cpu = _hours(s.cpu_seconds) + (f" ({s.steps_without_cpu} steps without)" if s.steps_without_cpu else "")
        if s.steps_without_cpu == s.steps:
            cpu = "not recorded"
        rows.append(("all stages" if s is cost.total else s.stage, str(s.steps), _hours(s.wall_seconds), cpu))
    return Table("table-cost", "What the study cost", CAPTION, ("stage", "steps", "wall (step time)", "CPU"),
                 tuple(rows))


def machines_line(results: StudyResults) -> str | None:
    cost = results.cost
    if cost is None or not cost.machines:
        return None
    parts = []
    for m in cost.machines:
        what = f"{m.cpus} CPUs" + (f", {m.gpu}" if m.gpu else ", no GPU") if m.cpus else "not recorded"
        stages = ", ".join(f"{k} {n}" for k, n in m.stages)
        parts.append(f"{m.host or 'unknown host'} ({what}): {m.steps} steps ({stages})")
    return "Where the steps ran: " + "; ".join(parts) + "."


def cost_section(results: StudyResults):
    from ftprobe.report.sections import Section, _p

    table = cost_table(results)
    if table is None:
        return None
    line = machines_line(results)
    return Section("cost", "What the study cost", (table, *((_p(line),) if line else ())))


def cost_markdown(results: StudyResults, md_table) -> list[str]:
    table = cost_table(results)
    if table is None:
        return []
    line = machines_line(results)
    return ["", f"## {table.title}", "", table.caption, ""] + md_table(table) + (["", line] if line else [])
