"""The store: round trip, reuse, layer independence, atomicity and resumption after a crash."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftprobe.cli.main import main
from ftprobe.data import load_task
from ftprobe.data.samples import sample_path
from ftprobe.errors import UserError
from ftprobe.represent import Store, extract, load_encoder


@pytest.fixture(scope="module")
def enc(tiny_bert):
    return load_encoder(str(tiny_bert), device="cpu")


@pytest.fixture(scope="module")
def task():
    return load_task("pos", sample_path("ewt"), max_sentences=40)


def test_round_trip_and_manifest(enc, task, tmp_path):
    store = Store(tmp_path)
    entry = extract(enc, task, "dev", store, batch_size=8, progress=False)
    m = entry.manifest
    assert m["model"]["fingerprint"] == enc.fingerprint and m["model"]["name"] == enc.name
    assert m["data"]["fingerprint"] == task.fingerprint("dev") and m["data"]["split"] == "dev"
    assert m["pooling"] == {"word": "mean"} and m["layers"] == [0, 1, 2] and m["dtype"] == "float32"
    assert {"config_hash", "revision"} <= set(m["model"]) and m["ftprobe_version"]
    sp = task.split("dev")
    np.testing.assert_array_equal(entry.labels, sp.labels)
    np.testing.assert_array_equal(entry.words, sp.words)
    assert entry.label_names == task.labels
    assert entry.target_words() == sp.target_words()
    assert entry.layer(1).shape == (len(sp), 32)
    assert [e.id for e in store.entries()] == [entry.id]
    assert store.open(entry.id[:6]).id == entry.id


def test_one_layer_reads_no_other(enc, task, tmp_path):
    entry = extract(enc, task, "dev", Store(tmp_path), progress=False)
    before = np.array(entry.layer(2))
    (entry.path / "layer_00.npy").unlink()
    (entry.path / "layer_01.npy").unlink()
    np.testing.assert_array_equal(entry.layer(2), before)
    assert not entry.layer(2).flags.writeable


def test_second_extract_reuses_entry(enc, task, tmp_path, monkeypatch):
    store = Store(tmp_path)
    first = extract(enc, task, "dev", store, progress=False)
    calls = []
    monkeypatch.setattr(enc.model, "forward", lambda *a, **k: calls.append(1))
    again = extract(enc, task, "dev", store, progress=False)
    assert again.id == first.id and calls == []


def test_missing_layers_are_added_to_the_entry(enc, task, tmp_path):
    store = Store(tmp_path)
    only_last = extract(enc, task, "dev", store, layers=[-1], progress=False)
    assert only_last.layers == [2]
    full = extract(enc, task, "dev", store, progress=False)
    assert full.id == only_last.id and full.layers == [0, 1, 2]
    ref = extract(enc, task, "dev", Store(tmp_path / "ref"), progress=False)
    for layer in (0, 2):
        np.testing.assert_allclose(full.layer(layer), ref.layer(layer), rtol=1e-6)


@pytest.mark.parametrize("stacked", [False, True], ids=["per-layer", "stacked"])
def test_crash_mid_extraction_then_clean_resume(enc, task, tmp_path, monkeypatch, stacked):
    # stacked: the GPU's path (all layers pooled at once, host copies collected one batch late)
    store = Store(tmp_path / "s")
    reference = extract(enc, task, "dev", Store(tmp_path / "ref"), batch_size=4, progress=False)

    # Stop after 3 batches as a crash would (progress checkpointed), then resume.
    assert extract(enc, task, "dev", store, stacked=stacked, batch_size=4, progress=False, max_batches=3) is None
    assert store.entries() == [] and len(store.partials()) == 1
    progress = json.loads((store.partials()[0] / "progress.json").read_text())
    assert progress["done"] == 3

    # A crash inside a batch (an exception from the model) leaves no complete entry either.
    real_forward = enc.model.forward
    count = {"n": 0}

    def flaky(*args, **kwargs):
        count["n"] += 1
        if count["n"] == 2:
            raise RuntimeError("simulated crash")
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(enc.model, "forward", flaky)
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract(enc, task, "dev", store, stacked=stacked, batch_size=4, progress=False)
    assert store.entries() == []
    monkeypatch.setattr(enc.model, "forward", real_forward)

    resumed = extract(enc, task, "dev", store, stacked=stacked, batch_size=4, progress=False)
    assert store.partials() == [] and [e.id for e in store.entries()] == [resumed.id]
    for layer in resumed.layers:
        np.testing.assert_allclose(resumed.layer(layer), reference.layer(layer), rtol=1e-6, atol=1e-7)


def test_partial_of_another_plan_restarts(enc, task, tmp_path):
    store = Store(tmp_path)
    extract(enc, task, "dev", store, batch_size=4, progress=False, max_batches=2)
    entry = extract(enc, task, "dev", store, batch_size=8, progress=False)  # other plan: restart
    ref = extract(enc, task, "dev", Store(tmp_path / "ref"), batch_size=8, progress=False)
    np.testing.assert_allclose(entry.layer(1), ref.layer(1), rtol=1e-6)


def test_store_rm_and_unknown_entry(enc, task, tmp_path):
    store = Store(tmp_path)
    entry = extract(enc, task, "dev", store, progress=False)
    assert store.remove([entry.id]) == [entry.id]
    assert store.entries() == []
    with pytest.raises(UserError, match="no entry"):
        store.open("abc")


def test_no_pickle_in_store(enc, task, tmp_path):
    entry = extract(enc, task, "dev", Store(tmp_path), progress=False)
    for f in entry.path.iterdir():
        assert f.suffix in {".npy", ".npz", ".json"}
    np.load(entry.path / "layer_00.npy", allow_pickle=False)
    np.load(entry.path / "targets.npz", allow_pickle=False)


def test_cli_extract_and_ls(tiny_bert, tmp_path, capsys):
    args = ["extract", "--model", str(tiny_bert), "--task", "trec-50", "--data", str(sample_path("trec")),
            "--max-sentences", "20", "--store", str(tmp_path), "--no-progress", "--device", "cpu"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "trec-50/train: 20 targets x 32 dims" in out and str(tmp_path) in out
    assert main(["store", "ls", "--store", str(tmp_path)]) == 0
    assert "trec-50" in capsys.readouterr().out


def test_cli_bad_model_writes_nothing(tmp_path, capsys):
    store = tmp_path / "store"
    args = ["extract", "--model", str(tmp_path / "no-such-model"), "--task", "pos",
            "--data", str(sample_path("ewt")), "--max-sentences", "5", "--store", str(store)]
    assert main(args) == 2
    assert "no such folder" in capsys.readouterr().err
    assert not store.exists()


def test_unloadable_models(tmp_path, capsys):
    """A config without weights or tokenizer, and an empty folder (T5 itself loads: its encoder,
    tests/represent/test_families.py)."""
    from transformers import T5Config

    T5Config(d_model=16, d_ff=32, num_layers=1, num_heads=2, vocab_size=50).save_pretrained(tmp_path / "t5")
    with pytest.raises(UserError, match="cannot be loaded"):
        load_encoder(str(tmp_path / "t5"), device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="cannot be loaded"):
        load_encoder(str(tmp_path / "empty"), device="cpu")


def test_bad_layer_argument(enc, task, tmp_path):
    with pytest.raises(UserError, match="layer 7 out of range 0..2"):
        extract(enc, task, "dev", Store(tmp_path), layers=[7], progress=False)


def test_layer_choice_of_an_entry_is_the_shared_one(enc, task, tmp_path):
    """Entry.layer reads a layer as represent.resolve_layer does: negatives count back from the
    last layer held; a layer the entry lacks is one UserError naming the entry (was an IndexError
    for -2 on an entry holding one layer)."""
    only_last = extract(enc, task, "dev", Store(tmp_path), layers=[-1], progress=False)
    np.testing.assert_array_equal(only_last.layer(-1), only_last.layer(2))
    for bad in (-2, 1, 3):
        with pytest.raises(UserError, match=rf"store entry {only_last.id} has no layer {bad} \(it has \[2\]\)"):
            only_last.layer(bad)
