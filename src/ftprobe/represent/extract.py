"""Extraction: every target's vector at every (chosen) layer, streamed into the store."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ftprobe import __version__
from ftprobe.atomic import write_json
from ftprobe.data.task import Task
from ftprobe.errors import SettingError, UserError
from ftprobe.represent.align import (
    BatchBuilder,
    SentencePooling,
    SentenceTokens,
    WordPooling,
    plan_batches,
    pool_targets,
    tokenize_sentences,
)
from ftprobe.represent.encoder import Encoder
from ftprobe.represent.store import MANIFEST, Entry, Store, entry_id, layer_file
from ftprobe.represent.writer import BackgroundWorker, LayerWriter, RowRuns

log = logging.getLogger(__name__)
STORE_DTYPES = ("float32", "float16")
PROGRESS = "progress.json"
FLUSH_SECONDS = 20.0


def resolve_layers(layers: Sequence[int] | str | None, n_layers: int,
                   available: Sequence[int] | None = None) -> list[int]:
    """``None``/"all" -> every hidden state (0 = embeddings .. n_layers; or every ``available``
    one); negatives count back from ``n_layers``. ``available``: the layers a store entry holds
    (a layer outside it is refused)."""
    if layers is None or layers == "all" or (isinstance(layers, list | tuple) and list(layers) == ["all"]):
        return list(range(n_layers + 1)) if available is None else sorted(available)
    if isinstance(layers, str):
        layers = layers.replace(",", " ").split()
    try:
        wanted = [int(layer) for layer in layers]
    except (TypeError, ValueError):
        raise SettingError("layers", f"expected 'all' or layer numbers, not {layers!r}") from None
    return sorted({resolve_layer(layer, n_layers, available) for layer in wanted})


def resolve_layer(layer: int, n_layers: int, available: Sequence[int] | None = None) -> int:
    full = layer + n_layers + 1 if layer < 0 else layer
    if not 0 <= full <= n_layers:
        raise SettingError("layers", f"layer {layer} out of range 0..{n_layers}")
    if available is not None and full not in available:
        raise SettingError("layers", f"layer {layer} was not extracted (have {min(available)}..{max(available)})")
    return full


def check_sentence_pooling(encoder: Encoder, pooling: str | None) -> str:
    """The sentence pooling to use: the model's default for None; [CLS] refused where the first
    token is no summary (decoder-only models see nothing after it; T5 starts with a word)."""
    if pooling is None:
        return encoder.default_sentence_pooling
    from ftprobe.represent.align import special_tokens

    if pooling == "cls" and (encoder.family == "decoder" or not special_tokens(encoder.tokenizer)[0]):
        raise UserError(f"sentence pooling 'cls': model {encoder.name!r} ({encoder.family}) has no [CLS]-like "
                        f"first token; use {encoder.default_sentence_pooling} or mean")
    return pooling


def pooling_key(kind: str, word_pooling: str, sentence_pooling: str) -> dict[str, str]:
    return {"sentence": sentence_pooling} if kind == "sentence" else {"word": word_pooling}


def extract(
    encoder: Encoder,
    task: Task,
    split: str,
    store: Store,
    *,
    layers: Sequence[int] | str | None = None,
    word_pooling: WordPooling = "mean",
    sentence_pooling: SentencePooling | None = None,
    batch_size: int = 32,
    store_dtype: str = "float32",
    progress: bool = True,
    max_batches: int | None = None,
    stacked: bool | None = None,
) -> Entry:
    """Extract ``task``'s ``split`` into ``store`` and return the entry (reused when present).

    Sentences are batched by length; vectors stream into memory-mapped files, flushed and
    check-pointed every few seconds, so an interrupted run resumes where it stopped.
    ``max_batches`` stops early, leaving a resumable partial entry (used to test resumption).
    ``sentence_pooling=None`` follows the model (``Encoder.default_sentence_pooling``).
    ``stacked``: pool all layers in one product with deferred host copies (None: on CUDA
    devices only, where it saves syncs; True exercises that path on a CPU).
    """
    if task.kind == "sentence" or sentence_pooling is None:
        sentence_pooling = check_sentence_pooling(encoder, sentence_pooling)
    if store_dtype not in STORE_DTYPES:
        raise SettingError("store_dtype", f"expected one of {', '.join(STORE_DTYPES)}, not {store_dtype!r}")
    if batch_size < 1:
        raise SettingError("batch_size", f"must be at least 1, not {batch_size}")
    sp = task.split(split)
    want = resolve_layers(layers, encoder.n_layers)
    pooling = pooling_key(task.kind, word_pooling, sentence_pooling)
    eid = entry_id(encoder.fingerprint, task.fingerprint(split), split, pooling)
    existing = store.get(eid)
    missing = want if existing is None else [layer for layer in want if layer not in existing.layers]
    if existing is not None and not missing:
        return existing

    store.root.mkdir(parents=True, exist_ok=True)
    partial = store.partial_path(eid)
    dim = encoder.hidden_size * (2 if task.kind == "pair" else 1)
    plan = {"layers": missing, "batch_size": batch_size, "dim": dim, "dtype": store_dtype,
            "n_targets": len(sp), "entry": eid}
    done = _resume_point(partial, plan)

    builder = BatchBuilder(encoder.tokenizer, encoder.max_length, word_pooling, sentence_pooling)
    with_targets = np.unique(sp.sent)
    tokens = _tokenize_some(encoder, sp.sentences, with_targets)
    lengths = np.array([len(t.ids) for t in tokens], dtype=np.int64)
    batches = plan_batches(lengths, with_targets, batch_size)
    targets_of_batch = _group_targets(batches, sp.sent, len(sp.sentences))

    arrays = {
        layer: LayerWriter(partial / layer_file(layer), (len(sp), dim), store_dtype, create=not done)
        for layer in missing
    }
    model = encoder.model
    device = next(model.parameters()).device
    # On a GPU every host copy is a sync that drains the launch queue: pool all layers in one
    # product, copy once per batch (asynchronously, into pinned memory) and collect the copy
    # only after the next batch has been launched (on an H200 with MiniLM the time stayed the
    # same: writing the vectors to disk dominates there). On a CPU, pooling layer by layer
    # avoids a stacked copy of the hidden states (measured faster there).
    if stacked is None:
        stacked = device.type == "cuda"
    stream = _VectorStream(arrays, missing, partial, plan, encoder.name)
    bar = _progress(len(batches), done, f"extract {task.name}/{split}", progress)
    n_windows = 0
    try:
        for k in range(done, len(batches)):
            if max_batches is not None and k >= max_batches:
                stream.checkpoint(k)
                return None  # type: ignore[return-value]
            sents, sel = batches[k], targets_of_batch[k]
            batch = builder.build(tokens, sents, sp.sent[sel], sp.words[sel], sel, task.kind).to(device)
            n_windows += int(batch.input_ids.shape[0] - len(sents))
            with torch.inference_mode():
                out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                            output_hidden_states=True)
                if stacked:
                    job = _pool_stacked(out.hidden_states, missing, batch)
                else:
                    per_layer = _pool_by_layer(out.hidden_states, missing, batch, encoder.name)
            if stacked:
                stream.put_stacked(job, RowRuns(batch.target_index))
            else:
                stream.put(RowRuns(batch.target_index), per_layer)
            bar.update(1)
            stream.checkpoint_every(FLUSH_SECONDS, k + 1)
        stream.finish()
    finally:
        bar.close()
        stream.close()

    manifest = {
        "format": 1,
        "id": eid,
        "model": encoder.describe(),
        "data": {"task": task.name, "kind": task.kind, "split": split, "fingerprint": task.fingerprint(split),
                 "n_targets": len(sp), "n_labels": task.n_labels, "source": task.source},
        "pooling": pooling,
        "layers": sorted(missing + (existing.layers if existing else [])),
        "dim": dim,
        "dtype": store_dtype,
        "compute_dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "max_length": encoder.max_length,
        "windowed_rows": n_windows,
        "ftprobe_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _commit_entry(store, eid, partial, existing, missing, manifest, task, sp)
    return Entry(store.path_of(eid))


def _pool_by_layer(hidden_states, layers: list[int], batch, model_name: str) -> dict[int, np.ndarray]:
    """Each chosen layer pooled on its own (no stacked copy), on the host."""
    per_layer = {}
    for layer in layers:
        vecs = pool_targets(hidden_states[layer].float(), batch).cpu().numpy()
        if not np.isfinite(vecs).all():
            raise UserError(f"model {model_name}: non-finite hidden states at "
                            f"layer {layer} (try the dtype setting float32)")
        per_layer[layer] = vecs
    return per_layer


class _VectorStream:
    """Pooled vectors on their way to the layer files: a background thread writes while the next
    batch runs; a stacked batch's host copy (in flight on a GPU) is handed over only once the
    following batch was launched. Progress is check-pointed every few seconds (resumable)."""

    def __init__(self, arrays: dict, layers: list[int], partial: Path, plan: dict, model_name: str):
        self.arrays, self.layers, self.partial, self.plan = arrays, layers, partial, plan
        self.model_name = model_name
        self.worker = BackgroundWorker()
        self.pending = None  # (event, host tensor, finiteness, rows) of the stacked batch in flight
        self.last_flush = time.monotonic()

    def _write(self, runs: RowRuns, per_layer: dict) -> None:
        for layer, vecs in per_layer.items():
            self.arrays[layer].write(runs, vecs)

    def put(self, runs: RowRuns, per_layer: dict) -> None:
        self.worker.submit(self._write, runs, per_layer)

    def put_stacked(self, job, runs: RowRuns) -> None:
        self.collect_pending()
        self.pending = (*job, runs)

    def collect_pending(self) -> None:
        """Hand the batch whose host copy is in flight (if any) to the writer."""
        if self.pending is None:
            return
        event, host, finite, runs = self.pending
        self.pending = None
        if event is not None:
            event.synchronize()
        if not bool(finite):
            raise UserError(f"model {self.model_name}: non-finite hidden states (try the dtype setting float32)")
        self.put(runs, {layer: host[i].numpy() for i, layer in enumerate(self.layers)})

    def checkpoint(self, done: int) -> None:
        """Everything up to batch ``done`` on disk, and recorded as the point to resume from."""
        self.collect_pending()
        self.worker.drain()
        _checkpoint(self.partial, self.arrays, self.plan, done)

    def checkpoint_every(self, seconds: float, done: int) -> None:
        if time.monotonic() - self.last_flush > seconds:
            self.checkpoint(done)
            self.last_flush = time.monotonic()

    def finish(self) -> None:
        self.collect_pending()
        self.worker.drain()
        for arr in self.arrays.values():
            arr.sync()  # on disk before the entry is renamed complete

    def close(self) -> None:
        self.worker.close()
        for arr in self.arrays.values():
            arr.close()


def _commit_entry(store: Store, eid: str, partial: Path, existing: Entry | None, missing: list[int],
                  manifest: dict, task: Task, sp) -> None:
    """The finished partial entry made the store's: renamed complete, or (adding layers to a
    complete entry) its layer files moved in, then the manifest."""
    if existing is None:
        np.savez(partial / "targets.npz", sent=sp.sent, words=sp.words, labels=sp.labels)
        (partial / "labels.json").write_text(json.dumps(task.labels, ensure_ascii=False))
        (partial / "sentences.json").write_text(json.dumps(sp.sentences, ensure_ascii=False))
        (partial / PROGRESS).unlink(missing_ok=True)
        write_json(partial / MANIFEST, manifest)
        _fsync_dir(partial)
        os.replace(partial, store.path_of(eid))
    else:
        for layer in missing:
            os.replace(partial / layer_file(layer), existing.path / layer_file(layer))
        manifest["created"] = existing.manifest.get("created", manifest["created"])
        write_json(existing.path / MANIFEST, manifest)
        shutil.rmtree(partial)
    _fsync_dir(store.root)


def _pool_stacked(hidden_states, layers: list[int], batch):
    """All chosen layers pooled at once, copied towards the host without waiting.

    Returns (event or None, host tensor [n_layers, T, width], finiteness flag, ...): the
    copy is complete once the event has fired.
    """
    H = torch.cat([hidden_states[layer].float() for layer in layers], dim=-1)  # [R, L, k*D]
    dim = hidden_states[0].shape[-1]
    pooled = pool_targets(H, batch)  # [T, c*k*D], ordered (slot, layer, feature)
    T = pooled.shape[0]
    per = pooled.view(T, -1, len(layers), dim).permute(2, 0, 1, 3).reshape(len(layers), T, -1)
    finite = torch.isfinite(per).all().reshape(1)
    if per.device.type != "cuda":
        return None, per.contiguous(), finite
    host = torch.empty(per.shape, dtype=per.dtype, pin_memory=True)
    host.copy_(per, non_blocking=True)
    finite_host = torch.empty(1, dtype=torch.bool, pin_memory=True)
    finite_host.copy_(finite, non_blocking=True)
    event = torch.cuda.Event()
    event.record()
    return event, host, finite_host


def _group_targets(batches: list[np.ndarray], target_sent: np.ndarray, n_sentences: int) -> list[np.ndarray]:
    """For each batch, the indices of the targets in its sentences (one sort, not a scan per batch)."""
    batch_of_sent = np.full(n_sentences, -1, dtype=np.int64)
    for k, sents in enumerate(batches):
        batch_of_sent[sents] = k
    batch_of_target = batch_of_sent[target_sent]
    order = np.argsort(batch_of_target, kind="stable")
    bounds = np.searchsorted(batch_of_target[order], np.arange(len(batches) + 1))
    return [order[bounds[k]:bounds[k + 1]] for k in range(len(batches))]


def _tokenize_some(encoder: Encoder, sentences, keep: np.ndarray):
    """Tokenize only the sentences that hold targets; others get an empty placeholder."""
    if len(keep) == len(sentences):
        return tokenize_sentences(encoder.tokenizer, sentences)
    toks = tokenize_sentences(encoder.tokenizer, [sentences[s] for s in keep])
    out = [SentenceTokens(np.zeros(0, np.int64), np.zeros(0, np.int64), len(s)) for s in sentences]
    for s, t in zip(keep.tolist(), toks, strict=True):
        out[s] = t
    return out


def _resume_point(partial: Path, plan: dict) -> int:
    """Batches already done in a matching partial entry; a partial of another plan is discarded."""
    progress = partial / PROGRESS
    if progress.is_file():
        try:
            state = json.loads(progress.read_text())
        except json.JSONDecodeError:
            state = {}
        if state.get("plan") == plan and all((partial / layer_file(layer)).is_file() for layer in plan["layers"]):
            log.info("resuming %s at batch %d", partial.name, state["done"])
            return int(state["done"])
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    return 0


def _checkpoint(partial: Path, arrays: dict, plan: dict, done: int) -> None:
    for arr in arrays.values():
        arr.sync()
    write_json(partial / PROGRESS, {"plan": plan, "done": done})


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _progress(total: int, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="batch", disable=not enabled, leave=False)
