"""`symtok cache build` as a batch job: a build where no file could be tokenized exits 1 even without --strict."""

from symtok.cache_cli import main


def test_build_of_only_bad_files_exits_nonzero(tmp_path, capsys):
    src = tmp_path / "midi"
    src.mkdir()
    (src / "broken.mid").write_bytes(b"MThd not really a midi file")
    (src / "zero.mid").write_bytes(b"")
    assert main(["build", str(src), "-t", "notes", "-o", str(tmp_path / "cache"), "--no-progress"]) == 1
    out = capsys.readouterr()
    assert "broken.mid" in out.out + out.err and "zero.mid" in out.out + out.err
