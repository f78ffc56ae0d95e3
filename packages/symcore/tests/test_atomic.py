"""symcore.atomic: a failed or killed write never leaves a partial file under the target name."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from symcore.atomic import atomic_path, atomic_write
from symcore.weights import load_weights, save_weights


def test_write_replaces_and_leaves_nothing_else(tmp_path):
    p = tmp_path / "sub" / "r.json"
    atomic_write(p, '{"a": 1}')
    atomic_write(p, '{"a": 2}')
    assert p.read_text() == '{"a": 2}' and os.listdir(p.parent) == ["r.json"]
    atomic_write(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"


def test_failed_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "emb.npy"
    np.save(p, np.arange(3))
    with pytest.raises(RuntimeError), atomic_path(p) as tmp:
        tmp.write_bytes(b"half a header")
        raise RuntimeError("writer died")
    assert np.load(p).tolist() == [0, 1, 2] and os.listdir(tmp_path) == ["emb.npy"]


def test_writers_see_the_suffix_and_umask(tmp_path):
    with atomic_path(tmp_path / "x.npy") as tmp:
        np.save(tmp, np.ones(2))  # would write tmp + ".npy" if the suffix were lost
    assert np.load(tmp_path / "x.npy").tolist() == [1.0, 1.0] and os.listdir(tmp_path) == ["x.npy"]
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "x.npy").stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600


def test_killed_writer_keeps_the_old_file(tmp_path):
    p = tmp_path / "results.csv"
    p.write_text("old\n")
    code = ("import os, signal, sys; from symcore.atomic import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_text('new, but only half'); os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert p.read_text() == "old\n"
    leftovers = [n for n in os.listdir(tmp_path) if n != "results.csv"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".results.csv.")  # hidden, never read as the file


def test_save_weights_failing_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    import safetensors.torch

    path = save_weights({"a": torch.ones(3)}, tmp_path / "w.safetensors")

    def broken(tensors, filename, metadata=None):
        open(filename, "wb").write(b"\x08\x00\x00")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        save_weights({"a": torch.zeros(3)}, path)
    torch.testing.assert_close(load_weights(path)["a"], torch.ones(3))
    assert os.listdir(tmp_path) == ["w.safetensors"]
