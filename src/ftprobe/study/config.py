"""The study config: one TOML or YAML file in, a validated ``StudyConfig`` out.

Every section is a pydantic model with ``extra="forbid"``, so a misspelt key is an error naming
its path (``tasks[1].dta: unknown key``). Relative paths are read relative to the config file.
``data = "sample:ewt"`` (or ``pud``, ``streusle``, ``trec``) names an excerpt shipped with ftprobe.
Checks that need the file system (data paths, model folders, layer ranges, cross-task pairs) run
in ``validate_config`` before any work starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ftprobe.errors import UserError

ANALYSES = (
    "accuracy", "clusters", "train_test", "min_distance", "layer_dynamics", "centroid_paths",
    "centroid_shift", "centroid_movement", "cross_task", "cka_rsa", "bootstrap",
)
SAMPLE_PREFIX = "sample:"


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Base):
    """An encoder: a hub name or a local folder (None: the offline MiniLM)."""

    name: str
    path: str | None = None
    revision: str | None = None
    tasks: list[str] | None = None  # fine-tune / probe only these study tasks (default: all)


class TaskConfig(_Base):
    """A task on its data: ``task`` is the reader (pos, dep, ps-role, ps-fxn, trec-50, ...)."""

    name: str
    task: str | None = None  # reader name; defaults to ``name``
    data: str
    random_split: list[float] | None = None
    split_seed: int = 0
    max_sentences: int | None = Field(None, ge=1)
    tagset: Literal["upos", "xpos"] = "upos"
    dep_labels: Literal["full", "base"] = "full"
    finetune: bool = True  # fine-tune on this task (False: only probe it, e.g. as a cross-task target)

    @property
    def reader(self) -> str:
        return self.task or self.name


class FinetuneSettings(_Base):
    epochs: int | None = Field(None, ge=1)  # None: the paper's (10; 3 for 12+ layers)
    lr: float = Field(5e-5, gt=0)
    batch_size: int = Field(32, ge=1)
    seed: int = 0
    checkpoint_every_steps: int | None = Field(None, ge=1)
    checkpoint_every_epoch: bool = True
    options: dict[str, Any] = Field(default_factory=dict)  # further FinetuneConfig fields


class ProbeSettings(_Base):
    probe: Literal["mlp", "linear"] = "mlp"
    hidden_sizes: list[int] = Field(default_factory=lambda: [32, 64, 128, 256])
    l2: list[float] = Field(default_factory=lambda: [10.0**e for e in range(-7, 1)])
    seeds: int = Field(5, ge=1)
    max_iter: int = Field(1000, ge=1)
    patience: int = Field(10, ge=1)
    batch_size: int = Field(200, ge=1)
    search: Literal["grid", "halving"] = "grid"
    layers: Literal["all"] | list[int] = "all"
    options: dict[str, Any] = Field(default_factory=dict)  # further ProbeProtocol fields


class DirectProbeSettings(_Base):
    min_cluster_size: int = Field(5, ge=0)
    layers: list[int] = Field(default_factory=lambda: [1, -1])  # train/test DirectProbe
    checkpoint_layers: Literal["every-other", "all"] | list[int] = "every-other"
    options: dict[str, Any] = Field(default_factory=dict)


class ExtractSettings(_Base):
    batch_size: int = Field(32, ge=1)
    device: str = "auto"
    word_pooling: Literal["mean", "first", "last"] = "mean"
    sentence_pooling: Literal["cls", "mean"] = "cls"


class CrossTaskPair(_Base):
    finetune: str  # fine-tune on this study task ...
    probe: str  # ... then probe this one with the fine-tuned encoder


class BootstrapSettings(_Base):
    n: int = Field(1000, ge=10)
    seed: int = 0
    level: float = Field(0.95, gt=0, lt=1)


class MeasureSettings(_Base):
    """The calibrated measures (debiased CKA, Procrustes, mutual k-NN) of every comparison: the
    nulls, intervals and k-NN measures read a seeded subsample of max_rows rows."""

    max_rows: int = Field(500, ge=16)
    n_null: int = Field(25, ge=2)  # permutations per null (p-value resolution 1 / (n_null + 1))
    n_interval: int = Field(8, ge=2)  # half-samples per interval
    level: float = Field(0.95, gt=0, lt=1)
    k: int = Field(10, ge=1)  # neighbours for mutual k-NN
    seed: int = 0


class StudyConfig(_Base):
    output: str = "ftprobe-study"
    models: list[ModelConfig] = Field(min_length=1)
    tasks: list[TaskConfig] = Field(min_length=1)
    layers: Literal["all"] | list[int] = "all"
    finetune: FinetuneSettings = FinetuneSettings()
    probe: ProbeSettings = ProbeSettings()
    directprobe: DirectProbeSettings = DirectProbeSettings()
    extract: ExtractSettings = ExtractSettings()
    analyses: list[Literal[ANALYSES]] = Field(default_factory=lambda: list(ANALYSES))  # type: ignore[valid-type]
    cross_task: list[CrossTaskPair] = Field(default_factory=list)
    bootstrap: BootstrapSettings = BootstrapSettings()
    measures: MeasureSettings = MeasureSettings()
    workers: int = Field(1, ge=1)
    threads: int = Field(2, ge=1)  # torch threads in all (split across workers)
    base_dir: str = "."  # folder relative paths are read from (set from the config file)

    @field_validator("models")
    @classmethod
    def _unique_models(cls, v):
        _unique([m.name for m in v], "models")
        return v

    @field_validator("tasks")
    @classmethod
    def _unique_tasks(cls, v):
        _unique([t.name for t in v], "tasks")
        return v

    # ---- helpers ------------------------------------------------------------------------------
    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p

    @property
    def output_dir(self) -> Path:
        return self.resolve(self.output)

    def task(self, name: str) -> TaskConfig:
        return next(t for t in self.tasks if t.name == name)

    def tasks_of(self, model: ModelConfig) -> list[TaskConfig]:
        return [t for t in self.tasks if model.tasks is None or t.name in model.tasks]

    def to_json(self) -> dict:
        return json.loads(self.model_dump_json())


def _unique(names: list[str], where: str) -> None:
    seen = set()
    for i, n in enumerate(names):
        if n in seen:
            raise ValueError(f"{where}[{i}].name {n!r} is used twice")
        seen.add(n)


# ---------------------------------------------------------------------------------------------
# Reading


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(exc: ValidationError, source: str) -> str:
    msgs = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
        # pydantic puts a Literal's accepted values in the message already
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "missing (required)"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        msgs.append(f"{_loc(loc)}: {msg}")
    more = f" (and {len(msgs) - 1} more: {'; '.join(msgs[1:4])})" if len(msgs) > 1 else ""
    return f"{source}: {msgs[0]}{more}"


def parse_config(data: dict, source: str = "config", base_dir: str | Path = ".") -> StudyConfig:
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a table/mapping at the top level")
    data = dict(data)
    if "base_dir" in data:
        raise UserError(f"{source}: base_dir: unknown key (paths are read relative to the config file)")
    data["base_dir"] = str(base_dir)
    try:
        return StudyConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, source)) from None


def load_config(path: str | Path) -> StudyConfig:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) study config."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"study config {path}: no such file")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path}: not valid TOML: {exc}") from None
    elif path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "parse error"
            raise UserError(f"{path}: not valid YAML: {first}") from None
    else:
        raise UserError(f"study config {path}: expected a .toml, .yaml or .yml file")
    return parse_config(data, str(path), path.resolve().parent)


# ---------------------------------------------------------------------------------------------
# Checks against the file system, before any work


def resolve_data(cfg: StudyConfig, data: str) -> str | Path:
    if data.startswith(SAMPLE_PREFIX):
        from ftprobe.data.samples import SAMPLES, sample_path

        name = data[len(SAMPLE_PREFIX):]
        if name not in SAMPLES:
            raise KeyError(name)
        return sample_path(name)
    if "=" in data:  # "train=a,test=b"
        parts = {}
        for item in data.split(","):
            split, _, p = item.partition("=")
            parts[split.strip()] = str(cfg.resolve(p.strip()))
        return parts
    return cfg.resolve(data)


def _data_paths(resolved) -> list[Path]:
    if isinstance(resolved, dict):
        return [Path(p) for p in resolved.values()]
    return [Path(resolved)]


def model_source(model: ModelConfig, cfg: StudyConfig) -> str:
    """What ``load_encoder`` gets: the offline default, a resolved folder, or a hub name."""
    if model.path is None:
        from ftprobe.represent.encoder import default_model

        return default_model()
    p = model.path
    if p.startswith((".", "/", "~")) or cfg.resolve(p).exists():
        return str(cfg.resolve(p))
    return p


def model_layer_count(source: str) -> int | None:
    """Number of hidden layers read from a local folder's config.json (None for hub names)."""
    cfg_file = Path(source) / "config.json"
    if not cfg_file.is_file():
        return None
    d = json.loads(cfg_file.read_text())
    for key in ("num_hidden_layers", "n_layers", "num_layers"):
        if key in d:
            return int(d[key])
    return None


def check_layers(layers, n_layers: int, key: str, model_name: str) -> None:
    if isinstance(layers, str):
        return
    for i, layer in enumerate(layers):
        if not -(n_layers + 1) <= layer <= n_layers:
            raise UserError(f"{key}[{i}]: layer {layer} is out of range for model {model_name!r} "
                            f"(0..{n_layers}, or -1 for the last)")


def validate_config(cfg: StudyConfig) -> None:
    """Everything that can be checked without loading models: raise one UserError naming the key."""
    from ftprobe.data import TASKS

    task_names = [t.name for t in cfg.tasks]
    for i, t in enumerate(cfg.tasks):
        if t.reader not in TASKS:
            key = f"tasks[{i}].task" if t.task else f"tasks[{i}].name"
            raise UserError(f"{key}: unknown task {t.reader!r}; known: {', '.join(sorted(TASKS))}")
        try:
            resolved = resolve_data(cfg, t.data)
        except KeyError as exc:
            raise UserError(f"tasks[{i}].data: unknown sample {exc.args[0]!r} "
                            "(shipped: sample:ewt, sample:pud, sample:streusle, sample:trec)") from None
        for p in _data_paths(resolved):
            if not p.exists():
                raise UserError(f"tasks[{i}].data: {p}: no such file or folder")
        if t.random_split is not None and len(t.random_split) not in (2, 3):
            raise UserError(f"tasks[{i}].random_split: expected 2 or 3 ratios, got {t.random_split}")
    for i, m in enumerate(cfg.models):
        for j, name in enumerate(m.tasks or []):
            if name not in task_names:
                raise UserError(f"models[{i}].tasks[{j}]: {name!r} is not a task of this study "
                                f"(tasks: {', '.join(task_names)})")
        if m.path is not None:
            src = model_source(m, cfg)
            if m.path.startswith((".", "/", "~")) and not Path(src).is_dir():
                raise UserError(f"models[{i}].path: {src}: no such folder")
            n = model_layer_count(src)
            if n is not None:
                check_layers(cfg.layers, n, "layers", m.name)
                check_layers(cfg.probe.layers, n, "probe.layers", m.name)
                check_layers(cfg.directprobe.layers, n, "directprobe.layers", m.name)
                check_layers(cfg.directprobe.checkpoint_layers, n, "directprobe.checkpoint_layers", m.name)
    for i, pair in enumerate(cfg.cross_task):
        for field in ("finetune", "probe"):
            name = getattr(pair, field)
            if name not in task_names:
                raise UserError(f"cross_task[{i}].{field}: {name!r} is not a task of this study "
                                f"(tasks: {', '.join(task_names)})")
        if not cfg.task(pair.finetune).finetune:
            raise UserError(f"cross_task[{i}].finetune: task {pair.finetune!r} has finetune = false")
        for m in cfg.models:
            if m.tasks is not None and not {pair.finetune, pair.probe} <= set(m.tasks):
                continue
    _check_options(cfg)


def _check_options(cfg: StudyConfig) -> None:
    """Pass-through options must name real fields of the stage's settings class."""
    import dataclasses

    checks = [("probe.options", "ftprobe.probe.protocol", "ProbeProtocol", cfg.probe.options),
              ("finetune.options", "ftprobe.finetune", "FinetuneConfig", cfg.finetune.options)]
    for key, module, cls_name, options in checks:
        if not options:
            continue
        try:
            import importlib

            cls = getattr(importlib.import_module(module), cls_name)
        except (ImportError, AttributeError):
            continue
        fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else \
            set(getattr(cls, "model_fields", {}))
        for name in options:
            if fields and name not in fields:
                raise UserError(f"{key}.{name}: unknown key (known: {', '.join(sorted(fields))})")
