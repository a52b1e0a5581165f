"""The study config: one TOML or YAML file in, a validated ``StudyConfig`` out.

Every section is a pydantic model with ``extra="forbid"``, so a misspelt key is an error naming
its path (``tasks[1].dta: unknown key``). Relative paths are read relative to the config file.
``data = "sample:ewt"`` (or ``pud``, ``streusle``, ``trec``) names an excerpt shipped with ftprobe.
Checks that need the file system (data paths, model folders, layer ranges, cross-task pairs) run
in ``validate_config`` before any work starts.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ftprobe.compare.control import LabelControlSettings
from ftprobe.compare.spaces import MeasureSettings
from ftprobe.errors import SettingError, UserError

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
    # a sweep: one fine-tuned model per method (full, lora, bitfit, freeze:K, head); checked in
    # validate_config with the LoRA settings of ``options`` (lora_rank, lora_alpha, ...)
    methods: list[str] | None = Field(None, min_length=1)
    record_every_steps: int | None = Field(None, ge=1)  # the dev split's vectors every K steps, into the store
    lr: float = Field(5e-5, gt=0)
    # a learning rate per method, in place of ``lr`` for that method (LoRA and BitFit train few
    # weights and usually want ~1e-3 where full fine-tuning takes 5e-5)
    lr_by_method: dict[str, float] = Field(default_factory=dict)
    batch_size: int = Field(32, ge=1)
    seed: int = 0
    seeds: list[int] | None = Field(None, min_length=1)  # a sweep: one fine-tuned model per seed
    # a sweep: one fine-tuned model per share of the train sentences (e.g. [0.25, 0.5, 1.0]: does a
    # change need the whole training set?); the probes still read every sentence
    train_fractions: list[float] | None = Field(None, min_length=1)
    checkpoint_every_steps: int | None = Field(None, ge=1)
    checkpoint_every_epoch: bool = True
    # false: a checkpoint's weights are deleted once the study has every vector it needs from them
    keep_checkpoints: bool = False
    options: dict[str, Any] = Field(default_factory=dict)  # further FinetuneConfig fields

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, v):
        if v is not None and len(set(v)) != len(v):
            raise ValueError(f"seeds {v}: each seed once")
        return v

    @field_validator("train_fractions")
    @classmethod
    def _fractions(cls, v):
        if v is None:
            return v
        if len(set(v)) != len(v):
            raise ValueError(f"train_fractions {v}: each fraction once")
        if bad := [f for f in v if not 0 < f <= 1]:
            raise ValueError(f"train_fractions: {bad[0]!r} is not in (0, 1]")
        return v


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
    # the checkpoint series' fits for these fine-tuning seeds only (None: every seed); the other
    # seeds keep their before/after fits and measures (a study too big to fit every series)
    series_seeds: list[int] | None = Field(None, min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


class ExtractSettings(_Base):
    batch_size: int = Field(32, ge=1)
    device: str = "auto"
    word_pooling: Literal["mean", "first", "last"] = "mean"
    # "auto" follows the model ([CLS] for encoders, the last token for decoder-only models, else the mean)
    sentence_pooling: Literal["cls", "mean", "last", "auto"] = "cls"


class CrossTaskPair(_Base):
    finetune: str  # fine-tune on this study task ...
    probe: str  # ... then probe this one with the fine-tuned encoder


class BootstrapSettings(_Base):
    n: int = Field(1000, ge=10)
    seed: int = 0
    level: float = Field(0.95, gt=0, lt=1)


class ReportSettings(_Base):
    # a Markdown file of the authors' notes and diagnoses, shown in the report (relative to the config)
    notes: str | None = None
    # every figure also as PNG, SVG and PDF under report/figures (for papers); off: the page and
    # the tables only (drawing them is most of a small study's time; `ftprobe report` adds them)
    figure_files: bool = True


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
    report: ReportSettings = ReportSettings()
    # the compare stage's own settings types: the config builds them, with their defaults and checks
    measures: MeasureSettings = MeasureSettings()
    label_control: LabelControlSettings = LabelControlSettings()
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


# The config section whose settings each kind of step hands to its stage.
STEP_SECTIONS = {"finetune": "finetune", "extract": "extract", "series": "extract", "probe": "probe",
                 "directprobe": "directprobe"}
_SECTIONS = {"finetune": FinetuneSettings, "extract": ExtractSettings, "probe": ProbeSettings,
             "directprobe": DirectProbeSettings}


def setting_key(section: str, setting: str) -> str:
    """Where a study config sets a stage's ``setting``: ``finetune.epochs`` for a key of the
    section, ``finetune.options.warmup_ratio`` for one passed through its options."""
    if section not in _SECTIONS or setting in _SECTIONS[section].model_fields:
        return f"{section}.{setting}"
    return f"{section}.options.{setting}"


def named_for_config(exc: SettingError, section: str) -> UserError:
    return exc.named(setting_key(section, exc.setting))


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


def _did_you_mean(loc: tuple) -> str:
    """For an unknown key: the closest key its section accepts."""
    import typing

    model: Any = StudyConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        # the section's model inside list[...] / ... | None
        todo, model = [field.annotation], None
        while todo:
            tp = todo.pop()
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                model = tp
                break
            if dataclasses.is_dataclass(tp):  # a stage's own settings type ([measures])
                return _closest(str(loc[-1]), [f.name for f in dataclasses.fields(tp)])
            todo += list(typing.get_args(tp))
        if model is None:
            return ""
    known = [name for name in getattr(model, "model_fields", {}) if name != "base_dir"]
    return _closest(str(loc[-1]), known)


def _closest(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _dataclass_fields(loc: tuple) -> set[str]:
    """The fields of the stage settings type at ``loc`` (a top-level section), else empty."""
    if len(loc) != 1 or loc[0] not in StudyConfig.model_fields:
        return set()
    tp = StudyConfig.model_fields[loc[0]].annotation
    return {f.name for f in dataclasses.fields(tp)} if dataclasses.is_dataclass(tp) else set()


def format_validation_error(exc: ValidationError, source: str) -> str:
    msgs = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
        # pydantic puts a Literal's accepted values in the message already
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            msg = "unknown key" + _did_you_mean(loc)
        elif err["type"] == "missing":
            msg = "missing (required)"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            first = msg.split(" ", 1)
            if err["type"] == "value_error" and len(first) == 2 and first[0] in _dataclass_fields(loc):
                loc, msg = (*loc, first[0]), first[1]  # a stage's check names its setting: put it in the path
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
    elif path.suffix == ".json":  # a finished study's study.json: its paths are relative to its base_dir
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
        if isinstance(data, dict) and "base_dir" in data:
            data = dict(data)
            return parse_config(data, str(path), Path(str(data.pop("base_dir"))))
    elif path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "parse error"
            raise UserError(f"{path}: not valid YAML: {first}") from None
    else:
        raise UserError(f"study config {path}: expected a .toml, .yaml or .yml file (or a study's study.json)")
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
    read_notes(cfg)
    _check_methods(cfg)
    _check_sentence_pooling(cfg)
    _check_stage_settings(cfg)


def read_notes(cfg: StudyConfig) -> str | None:
    """The text of ``report.notes`` (None when not set); a missing or unreadable file is a UserError."""
    if cfg.report.notes is None:
        return None
    from ftprobe.data.files import read_lines

    try:
        return "".join(line + "\n" for _, line in read_lines(cfg.resolve(cfg.report.notes)))
    except UserError as exc:
        raise UserError(f"report.notes: {exc}") from None


def _check_sentence_pooling(cfg: StudyConfig) -> None:
    """[CLS] pooling of sentence tasks only for models whose input starts with one (local folders)."""
    if cfg.extract.sentence_pooling != "cls":
        return
    from ftprobe.represent.encoder import model_family

    for m in cfg.models:
        source = model_source(m, cfg)
        if not (Path(source) / "config.json").is_file() or not any(
                t.reader in ("trec-50", "trec-6") for t in cfg.tasks_of(m)):
            continue
        from transformers import AutoConfig

        family = model_family(AutoConfig.from_pretrained(source))
        if family == "decoder":
            raise UserError(f"extract.sentence_pooling: 'cls' for model {m.name!r} ({family}), whose first "
                            "token is no sentence summary; use \"auto\", \"last\" or \"mean\"")


def _check_methods(cfg: StudyConfig) -> None:
    """Each method, with the LoRA settings of ``finetune.options``, is one FinetuneConfig can run."""
    from ftprobe.finetune import FinetuneConfig

    methods = cfg.finetune.methods or [cfg.finetune.options.get("method", "full")]
    if len(set(methods)) != len(methods):
        raise UserError(f"finetune.methods {methods}: each method once")
    if cfg.finetune.methods and "method" in cfg.finetune.options:
        raise UserError("finetune.options.method: give the methods in finetune.methods only")
    if cfg.directprobe.series_seeds is not None:
        seeds = cfg.finetune.seeds or [cfg.finetune.seed]
        if bad := [s for s in cfg.directprobe.series_seeds if s not in seeds]:
            raise UserError(f"directprobe.series_seeds: {bad[0]} is not a fine-tuning seed of this study "
                            f"(finetune.seeds: {seeds})")
    if cfg.finetune.train_fractions and "train_fraction" in cfg.finetune.options:
        raise UserError("finetune.options.train_fraction: give the fractions in finetune.train_fractions only")
    for name, lr in cfg.finetune.lr_by_method.items():
        if name not in methods:
            raise UserError(f"finetune.lr_by_method.{name}: not a method of this study (methods: {methods})")
        if not lr > 0:
            raise UserError(f"finetune.lr_by_method.{name}: {lr!r} is not a positive learning rate")
    for i, method in enumerate(methods):
        try:
            config = FinetuneConfig(**{**cfg.finetune.options, "method": method}).validate()
            if config.parsed_method().name == "lora":
                from ftprobe.finetune.methods import check_lora_fits

                for m in cfg.models:  # local folders: the target modules exist (hub models: at fine-tuning)
                    if Path(source := model_source(m, cfg)).is_dir():
                        check_lora_fits(source, config.lora())
        except SettingError as exc:
            if exc.setting == "method" and cfg.finetune.methods:
                raise exc.named(f"finetune.methods[{i}]") from None
            raise named_for_config(exc, "finetune") from None


def _check_stage_settings(cfg: StudyConfig) -> None:
    """Settings the stages themselves refuse (a warm-up ratio of 2, a device that is absent)."""
    from ftprobe.device import resolve_device
    from ftprobe.finetune import FinetuneConfig

    known = {f.name for f in dataclasses.fields(FinetuneConfig)} - {"method"}  # methods: _check_methods
    ft = cfg.finetune.model_dump()
    options = {k: v for k, v in ft.pop("options").items() if k != "method"}
    try:
        FinetuneConfig(**{k: v for k, v in ft.items() if k in known}, **options).validate()
    except SettingError as exc:
        raise named_for_config(exc, "finetune") from None
    try:
        resolve_device(cfg.extract.device)
    except SettingError as exc:
        raise named_for_config(exc, "extract") from None


def _check_options(cfg: StudyConfig) -> None:
    """Pass-through options must name real settings of the stage they are passed to."""
    import dataclasses
    import inspect

    from ftprobe.finetune import FinetuneConfig
    from ftprobe.probe.directprobe import DirectProbe
    from ftprobe.probe.protocol import ProbeProtocol

    def fields(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    # min_cluster_size has its own key in [directprobe]
    dp_args = set(inspect.signature(DirectProbe).parameters) - {"min_cluster_size"}
    checks = [("probe.options", fields(ProbeProtocol), cfg.probe.options),
              # the pooling is [extract]'s, for the head and the probes alike
              ("finetune.options", fields(FinetuneConfig) - {"word_pooling", "sentence_pooling"},
               cfg.finetune.options),
              ("directprobe.options", dp_args, cfg.directprobe.options)]
    for key, known, options in checks:
        for name in options:
            if name not in known:
                raise UserError(f"{key}.{name}: unknown key (known: {', '.join(sorted(known))})")
