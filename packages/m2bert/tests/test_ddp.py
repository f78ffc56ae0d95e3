"""Lightning DDP and FSDP on CPU: 2 processes (gloo) train a few steps; DDP ranks end with identical weights, and
FSDP (ModelParallelStrategy + symcore.sharding) ends with the same weights as DDP."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from symcore.weights import load_weights


def _run(tmp_path, midi_files, strategy: str):
    data = tmp_path / "midi"
    if not data.exists():
        data.mkdir()
        for p in midi_files[:4]:
            (data / p.name).symlink_to(p)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    worker = Path(__file__).with_name("ddp_worker.py")
    run = subprocess.run([sys.executable, str(worker), str(tmp_path), str(data), str(tmp_path / "cache"), "3",
                          strategy], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.mark.slow  # ~15 s on an idle 2-core machine, over a minute when it is shared
def test_ddp_two_cpu_ranks_agree(midi_files, tmp_path):
    _run(tmp_path, midi_files, "ddp")
    r0, r1 = load_weights(tmp_path / "ddp-rank0.safetensors"), load_weights(tmp_path / "ddp-rank1.safetensors")
    init = load_weights(tmp_path / "init.safetensors")
    assert set(r0) == set(r1) == set(init)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"ranks disagree on {k}"
    assert any(not torch.equal(r0[k], init[k]) for k in r0), "training did not change the weights"


@pytest.mark.slow  # two 2-process runs
def test_fsdp_trains_like_ddp(midi_files, tmp_path):
    """FSDP2 shards every layer, the encoder and the heads; after 3 steps from the same seed and data its
    gathered weights equal DDP's (sharding changes where the arithmetic happens, not what it computes), and the
    encoder export written at fit end (gathered on every rank, saved by rank 0) holds those weights."""
    _run(tmp_path, midi_files, "ddp")
    ddp = load_weights(tmp_path / "ddp-rank0.safetensors")
    _run(tmp_path, midi_files, "fsdp")
    fsdp = load_weights(tmp_path / "fsdp-rank0.safetensors")  # the full state dict lands on rank 0
    assert not (tmp_path / "fsdp-rank1.safetensors").exists()
    init = load_weights(tmp_path / "init.safetensors")
    assert set(fsdp) == set(ddp) == set(init)
    for k in ddp:
        torch.testing.assert_close(fsdp[k], ddp[k], rtol=1e-5, atol=1e-6, msg=f"FSDP and DDP differ on {k}")
    assert any(not torch.equal(fsdp[k], init[k]) for k in fsdp), "training did not change the weights"
    export = load_weights(tmp_path / "encoder.safetensors")
    for k, v in export.items():
        torch.testing.assert_close(v, fsdp[f"encoder.{k}"], rtol=0, atol=0)
