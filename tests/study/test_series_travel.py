"""A series step that stopped on one machine and resumes on another: its work folder (the fits
it finished, the points it had extracted) travels, the store and the fine-tuning folders do not.
The resumed step fine-tunes and extracts again, checks the vectors are those its saved fits read,
fits only what is missing, and ends with the results of one uninterrupted run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ftprobe.study import parse_config, run_study

from .conftest import micro_config
from .helpers import stable_results


def interrupted_copy(done_out, new_out, keep_fits_of_points: int) -> str:
    """``new_out`` as another machine would hold it: the finished steps of ``done_out`` except the
    fine-tuning and extraction steps (weights and vectors), no store, and the series step turned
    back into the work folder of a run stopped after ``keep_fits_of_points`` points were fitted
    (its layout: point-PPP.json, fit-PPP-LK.json, centroids-PPP-LK.npy). Returns its name."""
    steps = new_out / "steps"
    steps.mkdir(parents=True)
    series = None
    for folder in (done_out / "steps").iterdir():
        if folder.name.startswith(("finetune-", "extract-")):
            continue
        if folder.name.startswith("series-"):
            series = folder
            continue
        shutil.copytree(folder, steps / folder.name)
    result = json.loads((series / "result.json").read_text())
    layers = result["layers"]
    work = steps / (series.name + ".partial")
    work.mkdir()
    for i, (name, entry) in enumerate(zip(result["points"], result["entries"], strict=True)):
        (work / f"point-{i:03d}.json").write_text(json.dumps({"name": name, "entry": entry}))
        if i >= keep_fits_of_points:
            continue
        for layer in layers:
            (work / f"fit-{i:03d}-L{layer}.json").write_text(json.dumps(result["per_point"][i][str(layer)]))
            for c in (min(layers), max(layers)):
                if c == layer:
                    C = np.load(series / f"centroids-L{layer}.npy")
                    np.save(work / f"centroids-{i:03d}-L{layer}.npy", C[i])
    return series.name


def test_a_series_resumes_on_another_machine(tiny_bert, tmp_path):
    whole = run_study(parse_config(micro_config(tiny_bert, tmp_path / "whole"), "t"), progress=False)
    name = interrupted_copy(tmp_path / "whole", tmp_path / "moved", keep_fits_of_points=1)
    moved = run_study(parse_config(micro_config(tiny_bert, tmp_path / "moved"), "t"), progress=False)
    kinds = sorted({moved.plan.steps[sid].kind for sid in moved.executed})
    assert kinds == ["extract", "finetune", "series"]  # the rest travelled finished
    assert stable_results(json.loads(moved.results.read_text())) == \
        stable_results(json.loads(whole.results.read_text()))
    assert (tmp_path / "moved" / "steps" / name / "result.json").is_file()


def test_a_series_refuses_vectors_its_saved_fits_did_not_read(tiny_bert, tmp_path):
    run_study(parse_config(micro_config(tiny_bert, tmp_path / "whole"), "t"), progress=False)
    name = interrupted_copy(tmp_path / "whole", tmp_path / "moved", keep_fits_of_points=1)
    point = tmp_path / "moved" / "steps" / (name + ".partial") / "point-001.json"
    saved = json.loads(point.read_text())
    point.write_text(json.dumps({**saved, "entry": "0" * 20}))  # as if another model had made them
    with pytest.raises(RuntimeError, match="the fine-tuning did not repeat exactly"):
        run_study(parse_config(micro_config(tiny_bert, tmp_path / "moved"), "t"), progress=False)
