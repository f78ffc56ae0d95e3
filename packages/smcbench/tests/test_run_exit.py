"""`smcbench run` as a batch job: an unavailable task is skipped and reported, the others still run; the exit code
is 1 when nothing ran, or with --strict when anything was skipped."""

import pytest
from smcbench.cli import main


def test_nothing_ran_exits_nonzero(tmp_path, capsys):
    empty = tmp_path / "data"
    empty.mkdir()
    code = main(["--data-root", str(empty), "run", "--tasks", "ME,VE", "--profile", "smoke", "--out",
                 str(tmp_path / "out"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1  # without --strict: no task produced a result
    assert "ME: skipped" in out and "VE: skipped" in out and "pop909_split.json" in out
    assert not list((tmp_path / "out").rglob("*.json"))


@pytest.mark.slow  # one real smoke-profile finetune of a tiny encoder on ME (~30 s)
def test_skipped_task_is_reported_and_strict_fails(data_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SYMPHONIA_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data"  # POP909 and the splits only: ER (EMOPIA) is unavailable
    root.mkdir()
    for name in ("pop909", "splits"):
        (root / name).symlink_to(data_root / name)
    args = ["--data-root", str(root), "run", "--tasks", "ME,ER", "--profile", "smoke", "--limit", "2", "--out",
            str(tmp_path / "out"), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "ER: skipped" in out and "scratch ME seed 0" in out
    assert len(list((tmp_path / "out" / "runs").rglob("ME_*.json"))) == 1
    assert main([*args, "--strict"]) == 1  # ME is read back, ER still skipped
    assert "ER: skipped" in capsys.readouterr().out
