"""`smcbench probe` as a batch job: a corrupt file is skipped and named, a probe without data is skipped with its
reason while the others still run; exit 1 when no probe produced a result, or with --strict when anything was
skipped."""

import json

import pytest
from smcbench.cli import main


def _emopia_root(data_root, tmp_path, per_class=10):
    """A data root with only a few real EMOPIA clips (Q1, Q2) plus one corrupt 'clip'."""
    src = data_root / "emopia" / "midis"
    if not src.is_dir():
        pytest.skip(f"EMOPIA not found under {data_root}")
    midis = tmp_path / "data" / "emopia" / "midis"
    midis.mkdir(parents=True)
    for q in ("Q1", "Q2"):
        files = sorted(src.glob(f"{q}_*.mid"))[:per_class]
        assert len(files) == per_class
        for f in files:
            (midis / f.name).symlink_to(f)
    (midis / "Q1_corrupt_0.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x10\x00\x90")
    return tmp_path / "data"


def test_corrupt_file_and_missing_probe_are_reported(data_root, tmp_path, capsys):
    root = _emopia_root(data_root, tmp_path)
    out = tmp_path / "out"
    args = ["--data-root", str(root), "probe", "--model", "scratch", "--probes", "emotion,composer",
            "--max-len", "64", "--out", str(out)]
    assert main(args) == 0  # emotion ran; the corrupt clip and the composer probe are skipped
    printed = capsys.readouterr().out
    assert "emotion" in printed and "acc" in printed
    assert "Q1_corrupt_0.mid" in printed and "skipped probe composer" in printed
    saved = json.loads((out / "probe_scratch.json").read_text())
    assert set(saved["results"]) == {"emotion"}
    assert saved["results"]["emotion"]["n_files"] == 20  # the 20 readable clips, nothing else lost
    assert any("Q1_corrupt_0.mid" in f for f, _ in saved["failed"])
    assert main([*args, "--strict"]) == 1


def test_no_probe_possible_exits_nonzero(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    assert main(["--data-root", str(tmp_path / "data"), "probe", "--model", "scratch", "--out",
                 str(tmp_path / "out")]) == 1
    assert "skipped probe emotion" in capsys.readouterr().out


def test_unknown_probe_is_a_clear_error(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(SystemExit, match="unknown probe"):
        main(["--data-root", str(tmp_path / "data"), "probe", "--probes", "tempo", "--out", str(tmp_path / "o")])
