"""Tiny-Aria demo (a few minutes on CPU, no shared data): pretrain briefly on the music21 corpus, continue a piece
(MIDI + pianoroll PNG), then a short contrastive finetune and an embedding-similarity example.

    python -m aria.demo [--out outputs/aria_demo] [--steps 120]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from symtok.aria_augment import Augmenter
from torch.utils.data import DataLoader

from aria.config import AriaConfig
from aria.data import ContrastiveDataset, PretrainDataset, get_tokenizer
from aria.embed import file_embedding
from aria.generate import continue_midi
from aria.model import Aria
from aria.module import nt_xent
from aria.sample import SamplingConfig
from aria.tokens import TokenTables
from aria.weights import save_checkpoint


def _train(model: Aria, loader, steps: int, lr: float, loss_fn, label: str) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    it, first = iter(loader), None
    for step in range(1, steps + 1):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        loss = loss_fn(model, batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        first = first if first is not None else loss.item()
        if step % max(1, steps // 5) == 0 or step == steps:
            print(f"  {label} step {step:4d}/{steps}: loss {loss.item():.3f} (started at {first:.3f})")
    model.eval()


def _lm_loss(model, batch):
    logits = model(batch["ids"])
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["targets"].flatten(), ignore_index=2)


def _contrastive_loss(model, batch, tau: float = 0.1):
    ids, eos = batch["ids"], batch["eos"]
    z = model.embed(ids.flatten(0, 1), eos.flatten()).view(len(ids), 2, -1)
    return nt_xent(z[:, 0], z[:, 1], tau=tau)


def contrastive_finetune(model: Aria, seqs, tables: TokenTables, steps: int = 60, lr: float = 1e-3,
                         batch_size: int = 16, seq_len: int = 256, notes: tuple[int, int] = (16, 48)) -> None:
    """NT-Xent on pairs of random slices of one piece, without augmentation.

    With the paper's pitch/velocity augmentation every note token of one view differs from the other's, and a
    2-layer model given a minute of CPU only finds the collapsed optimum (one embedding for everything, loss =
    ln batch): the similarities then read 1.00 everywhere. Unaugmented pairs still make it learn what a piece
    shares across its slices (key, texture, tempo), which is what the demo shows.
    """
    ds = ContrastiveDataset(seqs, tables, seq_len=seq_len, augment=None, min_notes=notes[0], max_notes=notes[1])
    _train(model, DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=True), steps, lr,
           _contrastive_loss, "contrastive")


def half_similarity(model: Aria, tables: TokenTables, seqs, notes_per_slice: int = 48,
                    max_len: int = 256) -> np.ndarray:
    """Cosine similarities of the file embeddings of the first and second half of each piece (rows A0 B0 A1 B1…)."""
    embs = []
    for ids in seqs:
        n = len(tables.note_starts(ids))
        for half in range(2):
            part = tables.slice_notes(ids, half * (n // 2), n // 2)
            embs.append(file_embedding(model, tables, part, notes_per_slice=notes_per_slice, max_len=max_len))
    e = torch.nn.functional.normalize(torch.from_numpy(np.stack(embs)), dim=-1)
    return (e @ e.T).numpy()


def similarity_gap(sim: np.ndarray) -> tuple[float, float, float]:
    """(mean same-piece similarity, mean different-piece similarity, share of halves whose nearest other half is
    their own piece's) for a `half_similarity` matrix."""
    k = len(sim) // 2
    same = float(np.mean([sim[2 * j, 2 * j + 1] for j in range(k)]))
    other = np.ones_like(sim, bool)
    for j in range(k):
        other[2 * j:2 * j + 2, 2 * j:2 * j + 2] = False
    nearest = np.where(np.eye(len(sim), dtype=bool), -np.inf, sim).argmax(1)
    hits = float(np.mean(nearest == (np.arange(len(sim)) ^ 1)))
    return same, float(sim[other].mean()), hits


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="outputs/aria_demo")
    p.add_argument("--steps", type=int, default=120, help="pretraining steps")
    p.add_argument("--files", type=int, default=40, help="music21 corpus files to use")
    a = p.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress lines appear as they happen under make/pipes
    torch.manual_seed(0)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    from symcore.corpus import build_corpus

    corpus = build_corpus(limit=a.files)
    tok = get_tokenizer()
    tables = TokenTables(tok.vocab)
    files, seqs = [], []
    for f in corpus.files:
        try:
            seqs.append(np.asarray(tok.encode_file(f), np.int64))
            files.append(Path(f))
        except Exception as err:  # noqa: BLE001 - the demo reports and skips unreadable files
            print(f"  skipped {f}: {err}")
    print(f"[1/3] tokenized {len(seqs)} music21 pieces ({sum(map(len, seqs))} tokens)")

    model = Aria(AriaConfig.preset("tiny", max_seq_len=512))
    aug = Augmenter()
    loader = DataLoader(PretrainDataset(seqs, tables, seq_len=128, augment=aug), batch_size=8, shuffle=True)
    _train(model, loader, a.steps, 3e-3, _lm_loss, "pretrain")
    ckpt = out / "tiny_aria.safetensors"
    save_checkpoint(model, ckpt)

    print("[2/3] continuing the opening of a piece")
    prompt = max(files, key=lambda f: f.stat().st_size)
    midis = continue_midi(model, tok, prompt, out, prompt_seconds=8, length=200, variations=2,
                          sampling=SamplingConfig(temperature=0.98, min_p=0.035), seed=0, progress=False)
    for m in midis:
        print(f"  wrote {m} and {m.with_suffix('.png')}")

    print("[3/3] contrastive finetune, then embeddings of the two halves of some pieces")
    pieces = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))[:4]
    same, diff, hits = similarity_gap(half_similarity(model, tables, [seqs[i] for i in pieces]))
    print(f"  before: same piece {same:.3f} vs different pieces {diff:.3f} (the LM's <E> state barely depends on "
          "the music: it is always the same token and next-token training never asks it to summarise)")
    contrastive_finetune(model, seqs, tables, steps=max(60, a.steps // 2), lr=1e-3)
    save_checkpoint(model, ckpt)
    sim = half_similarity(model, tables, [seqs[i] for i in pieces])
    names = [f"{files[i].stem[:18]}/{'AB'[h]}" for i in pieces for h in range(2)]
    print("  cosine similarity of embeddings (A/B = first/second half of a piece):")
    print("  " + " " * 21 + " ".join(f"{k:>6d}" for k in range(len(names))))
    for k, name in enumerate(names):
        print(f"  {k} {name:<19s}" + " ".join(f"{v:6.2f}" for v in sim[k]))
    same, diff, hits = similarity_gap(sim)
    print(f"  after: same piece {same:.3f} vs different pieces {diff:.3f}; the nearest other half is the same "
          f"piece's for {hits:.0%} of halves")
    print(f"done: outputs in {out}/ (checkpoint {ckpt}; try `aria generate --ckpt {ckpt} --prompt <file.mid> "
          f"-o {out}/more`)")


if __name__ == "__main__":
    main()
