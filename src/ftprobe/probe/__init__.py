"""Stage 4: probes on frozen vectors: classifier probes and DirectProbe."""

from __future__ import annotations

from ftprobe.probe.batched import BatchedTrainer, ModelSpec, TrainedModel
from ftprobe.probe.classifier import LinearProbe, MLPProbe
from ftprobe.probe.control import control_labels
from ftprobe.probe.mdl import MDL_PORTIONS, MDLResult, mdl_codelength
from ftprobe.probe.protocol import LayerResult, ProbeProtocol, ProtocolResult, run_protocol

__all__ = [
    "BatchedTrainer", "ModelSpec", "TrainedModel", "MLPProbe", "LinearProbe", "control_labels",
    "MDL_PORTIONS", "MDLResult", "mdl_codelength", "LayerResult", "ProbeProtocol",
    "ProtocolResult", "run_protocol",
]


def __getattr__(name: str):
    # DirectProbe lives in its own subpackage (built separately); import it only when asked for
    # (kept out of __all__ so that a star import does not load it either).
    if name == "DirectProbe":
        from ftprobe.probe.directprobe import DirectProbe

        return DirectProbe
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
