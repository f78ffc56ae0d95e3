"""PS and SGC read layouts that are not in the shared data: test them on tiny fixtures written here."""

from __future__ import annotations

import numpy as np
import pytest
import symusic
from smcbench.tasks import TASKS
from smcbench.tasks.seqtasks import balanced_folds


def _midi(path, pitches):
    score = symusic.Score(480)
    track = symusic.Track("piano", 0, False)
    for i, p in enumerate(pitches):
        track.notes.append(symusic.Note(i * 240, 240, int(p), 80))
    score.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(path))


def test_balanced_folds_split_each_class_evenly():
    labels = [0] * 10 + [1] * 5
    folds = balanced_folds(labels)
    assert np.bincount(folds[:10]).tolist() == [2] * 5 and np.bincount(folds[10:]).tolist() == [1] * 5


def test_pianist8_layout(tmp_path):
    for name in ("Bethel", "Yiruma"):
        for k in range(5):
            _midi(tmp_path / "pianist8" / "midi" / name / f"{name}_{k}.mid", range(60, 70 + k))
    (tmp_path / "pianist8" / "midi" / "Yiruma" / "broken.mid").write_bytes(b"MThd\x00\x00")
    data = TASKS["PS"].build(tmp_path)
    assert len(data.pieces) == 10 and len(data.skipped) == 1 and "broken.mid" in data.skipped[0][0]
    assert sorted({p.labels for p in data.pieces}) == [0, 7]
    split = data.split(fold=0)
    assert len(split["test"]) == 2 and len(split["valid"]) == 2 and len(split["train"]) == 6


def test_sgc_layout(tmp_path):
    lines = []
    for i, genre in enumerate(["Rock", "Jazz", "Blues", "Pop"]):
        track = f"TRAB{i}CD12345678"
        lines.append(f"{track}\t{genre}")
        _midi(tmp_path / "lmd_matched" / track[2] / track[3] / track[4] / track / "abc.mid", range(50, 60))
    (tmp_path / "tagtraum").mkdir()
    (tmp_path / "tagtraum" / "msd_tagtraum_cd2.cls").write_text("# comment\n" + "\n".join(lines) + "\n")
    data = TASKS["SGC"].build(tmp_path)
    assert sorted(p.labels for p in data.pieces) == [0, 1, 4]  # Blues is not one of the five genres
    assert all(p.split in ("train", "valid", "test") for p in data.pieces)


def test_missing_layout_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="pianist8"):
        TASKS["PS"].build(tmp_path)


def test_cli_task_names_are_case_insensitive(capsys, tmp_path, monkeypatch):
    from smcbench.cli import _task_list

    assert _task_list("") == list(TASKS)
    assert _task_list("dbp,me") == ["DbP", "ME"]
    with pytest.raises(SystemExit, match="unknown task"):
        _task_list("XX")
