"""Who builds each stage, in one place, and :func:`require`: build what is missing.

:mod:`stages` declares every stage (its settings, inputs, notebook and time); the modules of
the notebooks hold the functions that make them; this module, at the top of the package, joins
the two, as a ``dvc.yaml`` or a ``Snakefile`` holds a pipeline's graph. Nothing below it starts
a build: a loader only loads, and says what to run when its stage is missing.

A notebook opened alone (a course, or Colab, where each notebook gets its own runtime) calls
:func:`prepare` with the stages it reads. What takes minutes is built there, after saying what
and how long; what takes longer than :data:`LONG_MINUTES` starts only when asked for
(``allow_long=True``, or ``RMENS_ALLOW_LONG=1``), and otherwise the error says the one line
that makes it.
"""
from __future__ import annotations

import os
from pathlib import Path

from . import best_of_n, labels, proxy, rlhf, sft
from .artifacts import MissingArtifactError, check_may_build, runs_dir, shown, stage_dir
from .stages import RM_MULTIHEAD, RM_SINGLE, Stage, missing, minutes, stage, trained_stages

LONG_MINUTES = 30  # longer than this starts only when the reader asks for it
ALLOW_LONG_ENV = "RMENS_ALLOW_LONG"


class LongWorkError(MissingArtifactError):
    """What a notebook reads is missing, and making it would take longer than the reader
    asked for."""


def _build_ppo(cfg, name: str):
    regime, run, seed = name.split("/")[1:]
    return rlhf.train_ppo_stage(cfg, run, int(seed.removeprefix("seed")), regime)


# kind of stage (stages.Stage.kind) -> the notebook's own function that makes stage ``name``
BUILDERS = {
    "sft": lambda cfg, name: sft.run_sft(cfg),
    "labels": lambda cfg, name: labels.run_labelling(cfg),
    "bon_samples": lambda cfg, name: best_of_n.run_bon_sampling(cfg),
    RM_SINGLE: lambda cfg, name: proxy.train_single_stage(cfg),
    RM_MULTIHEAD: lambda cfg, name: proxy.train_multihead_stage(cfg),
    "member": lambda cfg, name: proxy.train_member_stage(cfg, int(name.rsplit("_", 1)[1])),
    # notebook 08's variants and the screen's candidates: each model as stages declares it
    **dict.fromkeys(["variant", "lora member", "screen model", "screen member",
                     "screen policy member"], lambda cfg, name: proxy.train_declared(cfg, name)),
    "eval": lambda cfg, name: rlhf.evaluate_sft_stage(cfg),
    "ppo": _build_ppo,
}


def long_allowed(allow_long: bool | None) -> bool:
    """``allow_long`` if given, else whether ``$RMENS_ALLOW_LONG`` is set to 1."""
    return os.environ.get(ALLOW_LONG_ENV) == "1" if allow_long is None else allow_long


def _todo(cfg, names) -> list[Stage]:
    todo: list[Stage] = []
    for name in (s for n in names for s in trained_stages(cfg, n)):  # an ensemble: its members
        todo += [s for s in missing(cfg, name) if s.name not in {t.name for t in todo}]
    return todo


def prepare(cfg, *names: str, allow_long: bool | None = None) -> None:
    """Make sure the stages ``names`` exist for ``cfg`` (``rm_ensemble``: all its members):
    build the missing ones and what they need, inputs first, with the earlier notebooks' own
    functions, after printing what and about how long. Work longer than :data:`LONG_MINUTES`
    raises :class:`LongWorkError` unless ``allow_long`` (default: ``$RMENS_ALLOW_LONG=1``)."""
    todo = _todo(cfg, names)
    if todo:
        check_may_build(todo[0].name)
        total, where = minutes(cfg, todo)
        plan = "\n".join(f"  {s.name:<24} notebooks/{s.notebook}.ipynb   "
                         f"~{minutes(cfg, [s])[0]:g} min" for s in todo)
        head = (f"Not yet made with these settings in {shown(runs_dir(cfg.profile))}, "
                f"about {total:g} min on {where}:\n{plan}")
        if total > LONG_MINUTES and not long_allowed(allow_long):
            raise LongWorkError(
                f"{head}\nThat is longer than this notebook starts unasked. Run the notebooks "
                f"above first, or ask for it: `{ALLOW_LONG_ENV}=1` in the environment, or "
                f"`rmens_utils.pipeline.prepare(cfg, {', '.join(map(repr, names))}, "
                "allow_long=True)`.")
        print(f"{head}\nBuilding them with the notebooks' own functions:")
        for s in todo:
            BUILDERS[s.kind](cfg, s.name)


def require(cfg, name: str, allow_long: bool | None = None) -> Path:
    """The folder of stage ``name`` made with ``cfg``'s settings, built first (with its own
    inputs) if it is missing or was made with other settings or inputs (:func:`prepare`)."""
    stage(cfg, name)  # an unknown name fails here, before anything is built
    prepare(cfg, name, allow_long=allow_long)
    return stage_dir(cfg.profile, name)
