"""The task registry: every SMC task by its short code."""

from __future__ import annotations

from smcbench.tasks.base import Piece, TaskData, TaskSpec
from smcbench.tasks.beats import BP, DbP
from smcbench.tasks.embedded import MODE, SATB
from smcbench.tasks.harmony import CR, LK
from smcbench.tasks.motif import MNID
from smcbench.tasks.pop909 import ME, VE
from smcbench.tasks.seqtasks import ER, PS, SGC
from smcbench.tasks.texture import OTC
from smcbench.tasks.violin import VF

TASKS: dict[str, TaskSpec] = {t.name: t for t in (SGC, BP, DbP, CR, LK, ME, VE, OTC, PS, ER, VF, MNID)}
"""The 12 SMC tasks."""
EMBEDDED: dict[str, TaskSpec] = {t.name: t for t in (SATB, MODE)}
"""Tasks built from the embedded music21 corpus (demo and offline checks)."""
ALL_TASKS = {**TASKS, **EMBEDDED}


def get_task(name: str) -> TaskSpec:
    for key, spec in ALL_TASKS.items():
        if key.upper() == name.upper():
            return spec
    raise KeyError(f"unknown task {name!r}; known: {', '.join(ALL_TASKS)}")


__all__ = ["ALL_TASKS", "EMBEDDED", "TASKS", "Piece", "TaskData", "TaskSpec", "get_task"]
