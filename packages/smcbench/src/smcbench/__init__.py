"""smcbench: the 12 SMC symbolic-music understanding tasks and MIR linear probes, for any encoder."""

from smcbench.tasks import TASKS, Piece, TaskData, TaskSpec, get_task

__all__ = ["TASKS", "Piece", "TaskData", "TaskSpec", "get_task"]
