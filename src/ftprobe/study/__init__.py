"""Stage 6: the study runner. One config in; every step planned, cached by content and run;
the paper's tables, figures and findings out."""

from ftprobe.study.config import StudyConfig, load_config, parse_config, validate_config
from ftprobe.study.plan import Plan, Step, build_plan
from ftprobe.study.runner import RunSummary, StudyInterrupted, run_study

__all__ = ["Plan", "RunSummary", "Step", "StudyConfig", "StudyInterrupted", "build_plan", "load_config",
           "parse_config", "run_study", "validate_config"]
