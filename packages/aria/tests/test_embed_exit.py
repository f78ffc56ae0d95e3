"""`aria embed` as a batch job: nothing embedded is an error (no output file), with or without --strict."""

import pytest
import torch
from aria.cli import main
from aria.config import AriaConfig
from aria.model import Aria
from aria.weights import save_checkpoint


def test_embed_fails_when_no_file_could_be_embedded(tmp_path, capsys):
    pytest.importorskip("symtok.aria", reason="symtok.aria (AbsTokenizer) not installed")
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.safetensors"
    save_checkpoint(Aria(AriaConfig.preset("tiny", max_seq_len=256)), ckpt)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.mid").write_bytes(b"MThd not really a midi file")
    (folder / "empty.mid").write_bytes(b"")
    out = tmp_path / "emb.npy"
    with pytest.raises(SystemExit, match="2 of 2 files could not be embedded$"):
        main(["embed", "--ckpt", str(ckpt), str(folder), "-o", str(out), "--device", "cpu"])
    err = capsys.readouterr().err
    assert "broken.mid" in err and "empty.mid" in err
    assert not out.exists() and not out.with_suffix(".index.txt").exists()
