"""ftprobe: how fine-tuning changes the representations of a transformer encoder.

The package follows the pipeline, one sub-package a stage, data flowing one way:

    data -> represent (+ finetune) -> probe -> compare -> report;  study composes them.
"""

__version__ = "0.1.0"
