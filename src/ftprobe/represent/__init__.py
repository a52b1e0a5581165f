"""Stage 3: every target's vector at every layer, computed once into an on-disk store."""

from ftprobe.represent.align import BatchBuilder, ModelBatch, pool_targets, tokenize_sentences
from ftprobe.represent.encoder import Encoder, default_model, load_encoder
from ftprobe.represent.extract import extract, resolve_layer, resolve_layers
from ftprobe.represent.store import Entry, Store

__all__ = [
    "BatchBuilder", "Encoder", "Entry", "ModelBatch", "Store", "default_model", "extract",
    "load_encoder", "pool_targets", "resolve_layer", "resolve_layers", "tokenize_sentences",
]
