"""Fine-tuning on tiny random models: learning, checkpoints, exact resumption, extraction."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ftprobe.finetune import FinetuneConfig, finetune, list_checkpoints, read_head

from .ft_toy import ragged_word_task, toy_task


def fast(**kw) -> FinetuneConfig:
    base = dict(lr=5e-3, batch_size=8, warmup_ratio=0.1, seed=0)
    return FinetuneConfig(**{**base, **kw})


def evals(metrics):
    return [m for m in metrics if m["event"] == "eval"]


@pytest.mark.parametrize("kind, model, epochs, lr", [("word", "tiny_bert", 3, 5e-3),
                                                     ("pair", "tiny_distilbert", 3, 5e-3),
                                                     ("sentence", "tiny_roberta", 5, 1e-2)])
def test_loss_falls_for_each_target_kind(kind, model, epochs, lr, request, tmp_path):
    task = toy_task(kind)
    path = request.getfixturevalue(model)
    cfg = fast(epochs=epochs, lr=lr, checkpoint_every_epoch=False)
    result = finetune(str(path), task, tmp_path / "run", cfg, progress=False)
    assert result.checkpoints == []
    ev = evals(result.metrics)
    assert [m["epoch"] for m in ev] == list(range(1, epochs + 1))
    chance = math.log(task.n_labels)  # loss of a head that has learned nothing
    assert ev[-1]["train_loss"] < 0.6 * ev[0]["train_loss"]
    assert ev[-1]["loss"] < 0.5 * chance
    majority = np.bincount(task.split("dev").labels).max() / len(task.split("dev"))
    assert ev[-1]["accuracy"] > max(0.9, majority)
    # metrics.jsonl holds the same records, one JSON object per line
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert evals(lines) == ev


def test_default_recipe_epochs():
    cfg = FinetuneConfig()
    assert (cfg.batch_size, cfg.warmup_ratio, cfg.weight_decay) == (32, 0.1, 0.0)
    assert cfg.resolved_epochs(2) == 10 and cfg.resolved_epochs(12) == 3 and cfg.resolved_epochs(24) == 3
    assert FinetuneConfig(epochs=5).resolved_epochs(12) == 5


def test_checkpoint_reloads_with_automodel(tiny_bert, tmp_path):
    from transformers import AutoModel

    task = toy_task("word", n_train=24, n_dev=8)
    seen = {}

    def grab(step, net):
        if step == 2:
            # on the CPU: the run may train on a GPU, the checkpoint is read back to the CPU
            seen["encoder"] = {k: v.detach().cpu().clone() for k, v in net.encoder.state_dict().items()}
            seen["head"] = {k: v.detach().cpu().clone() for k, v in net.head.state_dict().items()}

    out = tmp_path / "run"
    result = finetune(str(tiny_bert), task, out, fast(epochs=1, checkpoint_every_steps=2), progress=False,
                      callback=grab)
    ckpts = list_checkpoints(out)
    assert [p.name for p in ckpts] == ["step-000002", "step-000003"]
    assert result.checkpoints == ckpts and (result.final_dir / "model.safetensors").is_file()

    loaded = AutoModel.from_pretrained(ckpts[0]).eval()
    reference = AutoModel.from_pretrained(tiny_bert).eval()
    reference.load_state_dict(seen["encoder"])
    ids = torch.tensor([[2, 10, 11, 12, 3, 0], [2, 13, 14, 3, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        a = loaded(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        b = reference(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        base = AutoModel.from_pretrained(tiny_bert).eval()(input_ids=ids, attention_mask=mask).last_hidden_state
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert not torch.allclose(a[-1], base, atol=1e-4)  # training moved the weights
    meta, head = read_head(ckpts[0])
    assert meta["labels"] == task.labels and meta["kind"] == "word"
    for k, v in seen["head"].items():
        assert torch.equal(head[k], v)
    state = json.loads((ckpts[0] / "trainer_state.json").read_text())
    assert state["step"] == 2 and state["settings"]["lr"] == 5e-3
    # only the newest checkpoint keeps the optimizer state; the finished run keeps none
    assert not any((p / "training_state.safetensors").exists() for p in ckpts)


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors")), load_file(str(folder / "head.safetensors"))


@pytest.mark.parametrize("every_epoch", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_interrupted_and_resumed_run_ends_with_same_weights(tiny_bert, tmp_path, every_epoch):
    task = toy_task("word", n_train=32, n_dev=8)  # 4 steps per epoch, dropout on
    cfg = fast(epochs=2, checkpoint_every_steps=3, checkpoint_every_epoch=every_epoch)
    full = finetune(str(tiny_bert), task, tmp_path / "full", cfg, progress=False)

    class Stop(Exception):
        pass

    def interrupt(step, net):
        if step == 6 if every_epoch else step == 5:
            raise Stop

    with pytest.raises(Stop):
        finetune(str(tiny_bert), task, tmp_path / "cut", cfg, progress=False, callback=interrupt)
    # the last complete checkpoint: mid-epoch (step 3) or at an epoch end (step 4)
    resumable = [p.name for p in list_checkpoints(tmp_path / "cut")
                 if (p / "training_state.safetensors").exists()]
    assert resumable == (["step-000006"] if every_epoch else ["step-000003"])
    resumed = finetune(str(tiny_bert), task, tmp_path / "cut", cfg, resume=True, progress=False)

    (enc_a, head_a), (enc_b, head_b) = _weights(full.final_dir), _weights(resumed.final_dir)
    assert enc_a.keys() == enc_b.keys()
    for k in enc_a:
        assert torch.equal(enc_a[k], enc_b[k]), k
    for k in head_a:
        assert torch.equal(head_a[k], head_b[k]), k
    assert [p.name for p in full.checkpoints] == [p.name for p in resumed.checkpoints]
    strip = [{k: v for k, v in m.items() if "seconds" not in k and "per_s" not in k}
             for m in evals(full.metrics)]
    assert strip == [{k: v for k, v in m.items() if "seconds" not in k and "per_s" not in k}
                     for m in evals(resumed.metrics)]
    # and the run really went elsewhere than the base model
    base = _weights_of_base(tiny_bert)
    assert any(not torch.equal(base[k], enc_a[k]) for k in base if k in enc_a)


def _weights_of_base(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_extraction_reads_a_checkpoint_like_a_hub_model(tiny_bert, tmp_path):
    """A checkpoint folder extracts exactly like the same weights in a bare hub-style folder,
    and the head applied to the extracted last layer reproduces the run's own evaluation."""
    import shutil

    from ftprobe.represent import Store, extract, load_encoder

    task = toy_task("pair", n_train=32, n_dev=12)
    result = finetune(str(tiny_bert), task, tmp_path / "run", fast(epochs=2), progress=False)
    ckpt = list_checkpoints(tmp_path / "run")[-1]
    hub = tmp_path / "hub-like"
    hub.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(ckpt / name, hub / name)

    a = extract(load_encoder(str(ckpt), device="cpu"), task, "dev", Store(tmp_path / "s1"), progress=False)
    b = extract(load_encoder(str(hub), device="cpu"), task, "dev", Store(tmp_path / "s2"), progress=False)
    assert a.layers == b.layers == [0, 1, 2]
    for layer in a.layers:
        np.testing.assert_array_equal(a.layer(layer), b.layer(layer))

    meta, head = read_head(result.final_dir)
    final = extract(load_encoder(str(result.final_dir), device="cpu"), task, "dev",
                    Store(tmp_path / "s3"), layers=[-1], progress=False)
    logits = torch.from_numpy(np.array(final.layer(2))) @ head["weight"].T + head["bias"]
    accuracy = float((logits.argmax(-1).numpy() == final.labels).mean())
    assert accuracy == pytest.approx(evals(result.metrics)[-1]["accuracy"], abs=1e-9)


def test_gradient_accumulation_matches_one_big_batch(tiny_bert, tmp_path):
    """Micro-batches weigh their loss by the whole batch's targets, so without dropout the
    accumulated run takes the same steps as the plain one (up to float rounding)."""
    import shutil

    model = tmp_path / "no-dropout"
    shutil.copytree(tiny_bert, model)
    config = json.loads((model / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (model / "config.json").write_text(json.dumps(config))
    task = ragged_word_task()
    runs = {}
    for accum in (1, 3):
        # on the CPU, whose rounding this tolerance is for (a GPU's reductions round otherwise)
        cfg = fast(epochs=1, grad_accum=accum, head_dropout=0.0, checkpoint_every_epoch=False, device="cpu")
        runs[accum] = _weights(finetune(str(model), task, tmp_path / f"a{accum}", cfg, progress=False).final_dir)
    (enc1, head1), (enc3, head3) = runs[1], runs[3]
    base = _weights_of_base(model)
    for k in enc1:
        torch.testing.assert_close(enc3[k], enc1[k], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(head3["weight"], head1["weight"], rtol=1e-4, atol=1e-5)
    assert any(not torch.allclose(base[k], enc1[k], atol=1e-3) for k in base if k in enc1)


def test_bf16_autocast_runs_on_cpu_and_fp16_is_refused(tiny_bert, tmp_path):
    """The mixed-precision path (autocast) is the GPU's; bf16 also runs on a CPU, so this test
    exercises that code path here: the loss still falls and the saved weights stay fp32."""
    from ftprobe.errors import UserError

    task = toy_task("word")
    cfg = fast(epochs=3, mixed_precision="bf16", checkpoint_every_epoch=False, device="cpu")
    result = finetune(str(tiny_bert), task, tmp_path / "bf16", cfg, progress=False)
    ev = evals(result.metrics)
    assert ev[-1]["train_loss"] < 0.6 * ev[0]["train_loss"]
    run = json.loads((tmp_path / "bf16" / "run.json").read_text())
    assert run["resolved"]["mixed_precision"] == "bf16"
    body, head = _weights(result.final_dir)
    for t in [*body.values(), *head.values()]:
        assert t.dtype == torch.float32 and torch.isfinite(t).all()
    with pytest.raises(UserError, match="fp16 needs a GPU"):
        finetune(str(tiny_bert), task, tmp_path / "fp16",
                 fast(epochs=1, mixed_precision="fp16", device="cpu"), progress=False)


def _multi_subword_task():
    """Words of 1-3 subwords (play ##ing, un ##believ ##able, ...), so first, last and mean differ."""
    import random

    from ftprobe.data import SplitRecords, build_task

    words = ["playing", "jumped", "readers", "unbelievable", "quickly", "cat", "runs", "house"]
    rng = random.Random(0)
    splits = {}
    for name, n in (("train", 24), ("dev", 10)):
        rec = SplitRecords()
        for s in range(n):
            sent = [rng.choice(words) for _ in range(5)]
            rec.sentences.append(sent)
            rec.targets.extend((s, i, -1, "ing" if w.endswith("ing") else "other") for i, w in enumerate(sent))
        splits[name] = rec
    return build_task("subwords", "word", splits, {"toy": True})


@pytest.mark.parametrize("pooling", ["first", "last", "mean"])
def test_head_reads_the_vector_the_probe_reads(tiny_bert, tmp_path, pooling):
    """Fine-tuned with word_pooling P, the head applied to what extraction with P stores gives
    the run's own evaluation loss; with another pooling it does not."""
    from torch.nn import functional as F

    from ftprobe.represent import Store, extract, load_encoder

    task = _multi_subword_task()
    result = finetune(str(tiny_bert), task, tmp_path / "run", fast(epochs=1, word_pooling=pooling),
                      progress=False)
    meta, head = read_head(result.final_dir)
    assert meta["pooling"] == {"word": pooling}
    encoder = load_encoder(str(result.final_dir), device="cpu")

    def loss(p: str) -> float:
        e = extract(encoder, task, "dev", Store(tmp_path / f"store-{p}"), layers=[-1], word_pooling=p,
                    progress=False)
        logits = torch.from_numpy(np.array(e.layer(2))) @ head["weight"].T + head["bias"]
        return float(F.cross_entropy(logits, torch.from_numpy(np.asarray(e.labels)).long()))

    run_loss = evals(result.metrics)[-1]["loss"]
    assert loss(pooling) == pytest.approx(run_loss, abs=1e-5)
    for other in sorted({"first", "last", "mean"} - {pooling}):
        assert abs(loss(other) - run_loss) > 1e-4, other


def test_train_fraction_fine_tunes_on_a_seeded_share(tiny_bert, tmp_path):
    from ftprobe.errors import SettingError

    task = toy_task("word", n_train=40)
    cfg = fast(epochs=1, batch_size=4, checkpoint_every_epoch=False, train_fraction=0.25)
    finetune(str(tiny_bert), task, tmp_path / "run", cfg, progress=False)
    resolved = json.loads((tmp_path / "run" / "run.json").read_text())["resolved"]
    sample = task.split("train").sample_sentences(0.25, seed=0)
    assert resolved["train_sentences"] == 10 and resolved["train_targets"] == len(sample)
    assert resolved["steps_per_epoch"] == 3  # ceil(10 / 4)
    for bad in (0, 1.5, True, "half"):
        with pytest.raises(SettingError, match="train_fraction"):
            fast(train_fraction=bad).validate()
    assert "train_fraction" not in fast().identity()  # whole-data runs resume as before
