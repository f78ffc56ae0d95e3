"""CI regression for the benchmark pipeline *and* the learning: finetune a random tiny encoder with the `demo`
profile and require scores well above the majority class, with thresholds set from committed results.

Committed results (benchmarks/results/smc_reproduction, scratch rows, demo profile, seeds 0 and 1) and the
majority-class rate of each test subset, with the threshold we require:

| task | majority | committed scratch | threshold |
|---|---|---|---|
| SATB (embedded) | 0.267 | 0.709, 0.731 | 0.55 |
| ME (note)       | 0.639 | 0.721, 0.769 | 0.68 |
| VF (note)       | 0.063 | 0.300 (s0)   | 0.20 |
| ER (sequence)   | 0.344 | 0.383, 0.391 | 0.30 (above chance 0.25; 128 segments are noisy) |

A broken tokenizer, label alignment, head, loss or optimizer drops a task to (or below) its majority rate.
"""

from __future__ import annotations

import pytest
from smcbench.encoders import encoder_factory
from smcbench.runner import run_one

THRESHOLDS = {"SATB": 0.55, "ME": 0.68, "VF": 0.20, "ER": 0.30}


def _score(task, tmp_path, data_root=None):
    rec = run_one(task, encoder_factory("scratch", config="tiny"), "scratch", profile="demo", seed=0,
                  out_dir=tmp_path, data_root=data_root, progress=False)
    return rec["test"]


def test_embedded_task_learns(tmp_path):
    assert _score("SATB", tmp_path) >= THRESHOLDS["SATB"]


@pytest.mark.data
@pytest.mark.parametrize("task", ["ME", "VF", "ER"])
def test_shared_tasks_learn(task, tmp_path, data_root):
    assert _score(task, tmp_path, data_root) >= THRESHOLDS[task]
