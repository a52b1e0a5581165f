"""Probing during training: recorded vectors equal an extraction of the same step's checkpoint,
recording changes nothing in training, resumed runs reuse what was recorded, and the recorder
works as a transformers.TrainerCallback."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ftprobe.cli.main import main
from ftprobe.finetune import FinetuneConfig, finetune, list_checkpoints
from ftprobe.finetune.recorder import ProbeRecorder
from ftprobe.represent import Store, extract, load_encoder

from .ft_toy import toy_task


def _cfg(**kw) -> FinetuneConfig:
    base = dict(lr=5e-3, batch_size=8, epochs=2, seed=0, checkpoint_every_epoch=False)
    return FinetuneConfig(**{**base, **kw})


def _records(metrics):
    return [m for m in metrics if m["event"] == "record"]


@pytest.fixture(scope="module")
def recorded(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("rec")
    task = toy_task("word", n_train=32, n_dev=8)  # 4 steps per epoch
    plain = finetune(str(tiny_bert), task, root / "plain", _cfg(), progress=False)
    run = finetune(str(tiny_bert), task, root / "run", _cfg(record_every_steps=3, checkpoint_every_steps=3),
                   progress=False, record_store=root / "store")
    return task, root, plain, run


def test_recorded_steps_equal_extraction_of_the_checkpoints(recorded):
    task, root, _, run = recorded
    records = _records(run.metrics)
    assert [(r["step"], r["split"]) for r in records] == [(0, "dev"), (3, "dev"), (6, "dev")]
    assert all(r["seconds"] > 0 for r in records)  # each record's own time (outside the training timer)
    store = Store(root / "store")
    assert sorted(e.id for e in store.entries()) == sorted(r["entry"] for r in records)
    ckpt = {p.name: p for p in list_checkpoints(root / "run")}
    for r in records[1:]:
        entry = store.open(r["entry"])
        assert entry.layers == [0, 1, 2] and entry.split == "dev" and entry.n_targets == len(task.split("dev"))
        ref = extract(load_encoder(str(ckpt[f"step-{r['step']:06d}"]), device="cpu"), task, "dev",
                      Store(root / f"ref-{r['step']}"), progress=False)
        for layer in entry.layers:
            np.testing.assert_allclose(entry.layer(layer), ref.layer(layer), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(entry.labels, ref.labels)
    # step 0 is the base model, and the steps differ from it
    base = extract(load_encoder(str(task_model(root)), device="cpu"), task, "dev", Store(root / "ref-0"),
                   progress=False)
    np.testing.assert_allclose(store.open(records[0]["entry"]).layer(2), base.layer(2), rtol=1e-5, atol=1e-6)
    assert not np.allclose(store.open(records[-1]["entry"]).layer(2), base.layer(2), atol=1e-3)
    # vectors only: no model folder in the store
    assert not list((root / "store").rglob("*.safetensors"))


def task_model(root):
    return json.loads((root / "run" / "run.json").read_text())["model"]


def test_recording_does_not_change_training(recorded):
    _, _, plain, run = recorded
    for name in ("model.safetensors", "head.safetensors"):
        a, b = load_file(str(plain.final_dir / name)), load_file(str(run.final_dir / name))
        for k in a:
            assert torch.equal(a[k], b[k]), k


def test_a_resumed_run_reuses_its_recorded_steps(tiny_bert, recorded, tmp_path):
    task, root, _, run = recorded
    cfg = _cfg(record_every_steps=3, checkpoint_every_steps=3)

    class Stop(Exception):
        pass

    def interrupt(step, net):
        if step == 5:
            raise Stop

    store = tmp_path / "store"
    with pytest.raises(Stop):
        finetune(str(tiny_bert), task, tmp_path / "cut", cfg, progress=False, record_store=store, callback=interrupt)
    before = {e.id: e.manifest["created"] for e in Store(store).entries()}
    assert len(before) == 2  # steps 0 and 3
    resumed = finetune(str(tiny_bert), task, tmp_path / "cut", cfg, resume=True, progress=False, record_store=store)
    assert [r["entry"] for r in _records(resumed.metrics)] == [r["entry"] for r in _records(run.metrics)]
    after = {e.id: e.manifest["created"] for e in Store(store).entries()}
    assert len(after) == 3 and all(after[k] == v for k, v in before.items())


def test_trainer_callback_records_without_changing_training(tiny_bert, tmp_path):
    """With transformers.Trainer: the recorded step equals an extraction of the trained model,
    and the trained weights equal those of the same Trainer run without the callback."""
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
    )

    task = toy_task("word", n_train=16, n_dev=8)
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    train = task.split("train")
    rows = []
    for s, words in enumerate(train.sentences):
        enc = tok(words, is_split_into_words=True)
        labels = [-100 if w is None else int(train.labels[(train.sent == s) & (train.words[:, 0] == w)][0])
                  for w in enc.word_ids()]
        rows.append({"input_ids": enc["input_ids"], "labels": labels})

    def run(callbacks, out):
        torch.manual_seed(0)
        model = AutoModelForTokenClassification.from_pretrained(tiny_bert, num_labels=task.n_labels)
        args = TrainingArguments(out, per_device_train_batch_size=4, max_steps=4, learning_rate=5e-3,
                                 report_to=[], save_strategy="no", use_cpu=True, seed=0, disable_tqdm=True)
        Trainer(model=model, args=args, train_dataset=rows, callbacks=callbacks).train()
        return model

    recorder = ProbeRecorder(task, "dev", Store(tmp_path / "store"), tok, every_steps=2, run="trainer-run")
    model = run([recorder.callback()], tmp_path / "a")
    plain = run([], tmp_path / "b")
    assert [r.step for r in recorder.recorded] == [2, 4]
    for (k, a), (_, b) in zip(model.state_dict().items(), plain.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    from ftprobe.represent.encoder import Encoder

    model.eval()
    ref = extract(Encoder(model, tok, "ref", "ref-fingerprint"), task, "dev", Store(tmp_path / "ref"),
                  progress=False)
    last = Store(tmp_path / "store").open(recorder.recorded[-1].entry)
    np.testing.assert_allclose(last.layer(2), ref.layer(2), rtol=1e-5, atol=1e-6)


def test_cli_records_and_refuses_a_bad_split(tiny_bert, tmp_path, capsys):
    from .ft_toy import jsonl_lines

    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text(jsonl_lines(16, seed=1))
    (data / "dev.jsonl").write_text(jsonl_lines(4, seed=2))
    args = ["finetune", "--model", str(tiny_bert), "--task", "jsonl", "--data", str(data), "--epochs", "1",
            "--batch-size", "8", "--no-progress", "--record-every-steps", "1", "--record-layers", "0", "-1",
            "--method", "bitfit"]
    assert main([*args, "--out", str(tmp_path / "bad"), "--record-split", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and not (tmp_path / "bad").exists()
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "3 recorded steps" in out and "method bitfit" in out
    entries = Store(tmp_path / "run" / "records").entries()
    assert len(entries) == 3 and all(e.layers == [0, 2] for e in entries)
    assert main([*args, "--out", str(tmp_path / "x"), "--method", "lora", "--lora-target-modules", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ftprobe: error: --lora-target-modules: nope")
    assert not (tmp_path / "x").exists()
