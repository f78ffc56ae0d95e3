"""M2BERT in a few minutes on CPU, no shared data: pretrain a tiny encoder (RC(4,12,12) + pianoroll) on the
music21 corpus, then fine-tune it on the SATB voice of every chorale note (soprano = melody), against the same
model without pretraining.  Run: `python -m m2bert.demo [--files 120] [--pretrain-steps 150] [--out DIR]`.

Writes DIR/encoder.safetensors (default outputs/demo/m2bert, through symcore.weights: safetensors, atomic), which
`python -m smcbench.demo` then compares with a random encoder (`make demo` runs the two in that order).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader


def _trainer(steps: int, root: str, **kw) -> L.Trainer:
    return L.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
                     gradient_clip_val=3.0, num_sanity_val_steps=0, **kw)


def main(argv=None) -> dict:
    from symcore.corpus import build_corpus

    from m2bert.data import CropDataset, TaskDataModule, cp_cache, split_indices
    from m2bert.module import M2BertFinetuneModule, M2BertPretrainModule
    from m2bert.tasks import chorale_voice_examples

    ap = argparse.ArgumentParser(prog="python -m m2bert.demo")
    ap.add_argument("--files", type=int, default=120, help="music21 corpus files (Bach chorales first)")
    ap.add_argument("--pretrain-steps", type=int, default=150)
    ap.add_argument("--finetune-steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--out", default="outputs/demo/m2bert", help="where encoder.safetensors is written")
    a = ap.parse_args(argv)
    L.seed_everything(0, verbose=False)
    t0 = time.time()
    corpus = build_corpus(limit=a.files)
    examples = chorale_voice_examples(corpus.files)
    train_idx, val_idx = split_indices(len(examples), 0.2, seed=0)
    # Pretraining is self-supervised (the voice labels never enter it), so it sees every corpus file.
    cache = cp_cache(corpus.files)
    arrays = [cache[i] for i in range(len(cache)) if len(cache[i]) >= 16]
    print(f"[m2bert demo] {len(corpus.files)} corpus files, {sum(map(len, arrays))} CP tokens; "
          f"{len(examples)} four-part pieces for the voice task ({time.time() - t0:.0f} s)")

    with tempfile.TemporaryDirectory() as root:
        pre = M2BertPretrainModule(preset="tiny", encoder={"max_len": a.seq_len}, lr=1e-3, warmup_steps=20)
        loader = DataLoader(CropDataset(arrays, a.seq_len, random=True, repeat=50), batch_size=a.batch, shuffle=True)
        first = pre.compute_losses(next(iter(loader))["tokens"])["loss"].item()
        _trainer(a.pretrain_steps, root).fit(pre, loader)
        pre.eval()
        with torch.no_grad():
            last = pre.compute_losses(next(iter(loader))["tokens"])["loss"].item()
        print(f"[m2bert demo] pretrained tiny encoder: loss {first:.3f} -> {last:.3f} "
              f"in {a.pretrain_steps} steps ({time.time() - t0:.0f} s)")
        from m2bert.export import save_encoder

        weights = str(save_encoder(pre.encoder, Path(a.out) / "encoder.safetensors", objective="denoise"))
        print(f"[m2bert demo] encoder written to {weights}")

        results = {}
        for name, enc in (("pretrained", weights), ("scratch", None)):
            L.seed_everything(0, verbose=False)
            data = TaskDataModule([examples[i] for i in train_idx], [examples[i] for i in val_idx],
                                  seq_len=a.seq_len, batch_size=a.batch)
            ft = M2BertFinetuneModule(num_classes=4, level="note", preset="tiny", encoder={"max_len": a.seq_len},
                                      encoder_weights=enc, lr=1e-3, warmup_steps=10)
            trainer = _trainer(a.finetune_steps, root)
            trainer.fit(ft, data)
            acc = trainer.validate(ft, data, verbose=False)[0]["val/acc"]
            results[name] = acc
            print(f"[m2bert demo] SATB voice accuracy, {name:10s}: {acc:.3f} (chance 0.25) ({time.time() - t0:.0f} s)")
    return results


if __name__ == "__main__":
    main()
