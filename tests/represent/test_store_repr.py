"""Encoder, Store and Entry print as one short line (not the whole model or the vectors)."""

from pathlib import Path

from ftprobe.data import load_task
from ftprobe.represent import Store, extract, load_encoder

SAMPLE_EWT = Path(__file__).resolve().parents[2] / "src" / "ftprobe" / "resources" / "samples" / "ud_english_ewt"


def test_encoder_store_entry_reprs(tiny_bert, tmp_path):
    enc = load_encoder(str(tiny_bert))
    assert repr(enc) == (f"Encoder({str(tiny_bert)!r}, bert, 2 layers, hidden 32, fingerprint {enc.fingerprint[:12]})")
    store = Store(tmp_path / "st")
    assert repr(store) == f"Store({str(tmp_path / 'st')!r}, 0 entries)"
    task = load_task("pos", SAMPLE_EWT)
    entry = extract(enc, task, "dev", store, progress=False)
    assert repr(entry) == f"Entry({entry.id!r}, pos/dev, {entry.n_targets:,} targets x 32 dims, layers 0..2)"
    assert repr(store).endswith(", 1 entries)")
