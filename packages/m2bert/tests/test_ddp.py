"""Lightning DDP on CPU: 2 processes (gloo) train a few steps and end with identical weights."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from symcore.weights import load_weights


@pytest.mark.slow  # ~15 s on an idle 2-core machine, over a minute when it is shared
def test_ddp_two_cpu_ranks_agree(midi_files, tmp_path):
    data = tmp_path / "midi"
    data.mkdir()
    for p in midi_files[:4]:
        (data / p.name).symlink_to(p)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    worker = Path(__file__).with_name("ddp_worker.py")
    run = subprocess.run([sys.executable, str(worker), str(tmp_path), str(data), str(tmp_path / "cache"), "3"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    r0, r1 = load_weights(tmp_path / "rank0.safetensors"), load_weights(tmp_path / "rank1.safetensors")
    init = load_weights(tmp_path / "init.safetensors")
    assert set(r0) == set(r1) == set(init)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"ranks disagree on {k}"
    assert any(not torch.equal(r0[k], init[k]) for k in r0), "training did not change the weights"
