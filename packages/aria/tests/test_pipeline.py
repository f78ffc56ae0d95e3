"""Tokenizer <-> model on real MIDI: a tiny pretrain learns, generation and embedding CLIs write their files."""

import lightning as L
import numpy as np
import pytest
import torch
from aria import Aria, AriaConfig
from aria.cli import main
from aria.data import ContrastiveDataset, PretrainDataset
from aria.module import AriaModule
from aria.tokens import EOS_ID, TokenTables
from aria.weights import save_checkpoint
from torch.utils.data import DataLoader


@pytest.fixture(scope="module")
def encoded(piano_midis, tokenizer):
    return [np.asarray(tokenizer.encode_file(p), np.int64) for p in piano_midis]


def test_model_reads_tokenizer_ids_and_output_detokenizes(encoded, tokenizer):
    torch.manual_seed(0)
    model = Aria(AriaConfig.preset("tiny", max_seq_len=128)).eval()
    ids = torch.from_numpy(encoded[0][:100])[None]
    assert model(ids).shape == (1, 100, tokenizer.vocab_size)
    tables = TokenTables(tokenizer.vocab)
    piece = tables.slice_notes(encoded[0], 10, 20)
    notes = tokenizer.detokenize(piece)
    assert len(notes.pitch) == 20 and piece[-1] == EOS_ID


def test_tiny_pretrain_on_real_midi_drives_loss_down(encoded, tokenizer):
    torch.manual_seed(0)
    tables = TokenTables(tokenizer.vocab)
    ds = PretrainDataset(encoded, tables, seq_len=64)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    module = AriaModule(AriaConfig.preset("tiny", max_seq_len=64), lr=1e-2, warmup_steps=3, total_steps=25)
    with torch.no_grad():
        before = module.loss(batch).item()
    trainer = L.Trainer(max_steps=25, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")
    trainer.fit(module, DataLoader(ds, batch_size=4, shuffle=True))
    with torch.no_grad():
        after = module.loss(batch).item()
    assert before > 9.0 and after < before - 2.0, (before, after)


def test_contrastive_views_are_valid_sequences(encoded, tokenizer):
    tables = TokenTables(tokenizer.vocab)
    ds = ContrastiveDataset(encoded, tables, seq_len=512, min_notes=20, max_notes=60)
    item = ds[0]
    assert item["ids"].shape == (2, 512)
    for view, eos in zip(item["ids"], item["eos"]):
        assert view[eos] == EOS_ID and (view == 4).sum() == 0
        assert 20 <= len(tables.note_starts(view[: eos + 1].numpy())) <= 60


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(Aria(AriaConfig.preset("tiny", max_seq_len=256)), path)
    return path


def test_generate_cli_writes_midi_and_png_per_variation(tiny_ckpt, piano_midis, tmp_path, tokenizer):
    out = tmp_path / "gen"
    main(["generate", "--ckpt", str(tiny_ckpt), "--prompt", str(piano_midis[0]), "--prompt-seconds", "3",
          "--length", "24", "--variations", "2", "--seed", "0", "--device", "cpu", "-o", str(out)])
    mids = sorted(out.glob("*.mid"))
    assert len(mids) == 2 and all(m.with_suffix(".png").stat().st_size > 0 for m in mids)
    assert all(len(tokenizer.detokenize(tokenizer.encode_file(m)).pitch) > 0 for m in mids)


def test_generate_cli_errors_are_clear(tiny_ckpt, piano_midis, tmp_path):
    with pytest.raises(SystemExit, match="context"):
        main(["generate", "--ckpt", str(tiny_ckpt), "--prompt", str(piano_midis[0]), "--prompt-seconds", "600",
              "--length", "8", "-o", str(tmp_path)])
    with pytest.raises(SystemExit, match="empty prompt"):
        main(["generate", "--ckpt", str(tiny_ckpt), "--prompt", str(piano_midis[0]), "--prompt-seconds", "0",
              "--length", "8", "-o", str(tmp_path)])


def test_embed_cli_skips_and_reports_bad_files(tiny_ckpt, piano_midis, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for p in piano_midis[:2]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.mid").write_bytes(b"MThd not really a midi file")
    out = tmp_path / "emb.npy"
    main(["embed", "--ckpt", str(tiny_ckpt), str(folder), "-o", str(out), "--max-len", "256", "--device", "cpu"])
    embs = np.load(out)
    index = out.with_suffix(".index.txt").read_text().split()
    assert embs.shape == (2, 512) and len(index) == 2 and "broken.mid" not in " ".join(index)
    assert "broken.mid" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="strict"):
        main(["embed", "--ckpt", str(tiny_ckpt), str(folder), "-o", str(out), "--strict", "--device", "cpu"])


def test_segments_and_file_level_aggregation(encoded, tokenizer):
    from aria.data import SegmentDataset
    from aria.module import file_predictions

    tables = TokenTables(tokenizer.vocab)
    seqs = [e[:3000] for e in encoded[:3]]
    ds = SegmentDataset(seqs, tables, seq_len=256, labels=[0, 1, 2], notes_per_segment=200)
    files = [int(ds[i]["file"]) for i in range(len(ds))]
    assert sorted(set(files)) == [0, 1, 2] and len(ds) > 3
    torch.manual_seed(0)
    model = Aria(AriaConfig.preset("tiny", max_seq_len=256, n_classes=3)).eval()
    probs = file_predictions(model, DataLoader(ds, batch_size=4), n_files=3)
    with torch.no_grad():
        seg = torch.stack([model.classify(ds[i]["ids"][None], ds[i]["eos"][None])[0].softmax(-1)
                           for i in range(len(ds))])
    expected = torch.stack([seg[[k for k, f in enumerate(files) if f == j]].mean(0) for j in range(3)])
    torch.testing.assert_close(probs, expected, rtol=1e-4, atol=1e-5)


def test_smcbench_probe_adapter_embeds_real_midi(tmp_path, piano_midis):
    encoders = pytest.importorskip("smcbench.encoders", reason="smcbench not installed")
    torch.manual_seed(0)
    save_checkpoint(Aria(AriaConfig.preset("tiny", max_seq_len=256)), tmp_path / "a.safetensors")
    model = encoders.encoder_factory("aria", tmp_path / "a.safetensors")()
    e1, e2 = (encoders.file_embedding(model, p, max_len=256) for p in piano_midis[:2])
    assert e1.shape == (512,) and np.isfinite(e1).all() and not np.allclose(e1, e2)
    with pytest.raises(ValueError, match="needs --ckpt"):
        encoders.encoder_factory("aria")
