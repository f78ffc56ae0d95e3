"""Short pretraining curves of the tiny M2BERT: RC(4,12,12) + pianoroll vs MidiBERT-style MLM, same data and steps.

    nice .venv/bin/python benchmarks/m2bert_curves.py [--data pop909] [--steps 300] [--seq-len 128] [--batch 8]

Data: a shared collection via $SYMPHONIA_DATA (default POP909), file-level 95/5 split. Each objective's own
validation loss is on a different scale; the plot also shows pitch accuracy on the validation tokens each
objective predicts (30 % RC-corrupted vs 15 % masked/replaced/kept). Writes
benchmarks/results/m2bert_curves.{csv,png,md}.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch
from m2bert.data import CropDataset, cp_cache, resolve_files, split_indices
from m2bert.module import M2BertPretrainModule
from torch.utils.data import DataLoader

RESULTS = Path(__file__).parent / "results"


def evaluate(module, batches):
    module.eval()
    tot = {"loss": 0.0, "acc_pitch": 0.0}
    with torch.no_grad():
        for i, b in enumerate(batches):
            out = module.compute_losses(b, torch.Generator().manual_seed(i))
            for k in tot:
                tot[k] += out[k].item() / len(batches)
    module.train()
    return tot


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="pop909")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args()
    torch.set_num_threads(1)
    cache = cp_cache(resolve_files(a.data))
    arrays = [cache[i] for i in range(len(cache)) if len(cache[i]) >= 16]
    train, val = split_indices(len(arrays), 0.05, seed=0)
    val_set = CropDataset([arrays[i] for i in val], a.seq_len, random=False)
    val_batches = [b["tokens"] for b in DataLoader(val_set, batch_size=16)][:8]
    rows = []
    for name, kw in (("RC+pianoroll", {"objective": "denoise"}), ("MLM", {"objective": "mlm", "pianoroll": False})):
        torch.manual_seed(0)
        module = M2BertPretrainModule(preset="tiny", encoder={"max_len": a.seq_len}, **kw)
        opt = torch.optim.AdamW(module.parameters(), lr=1e-3, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20))
        loader = DataLoader(CropDataset([arrays[i] for i in train], a.seq_len, random=True, repeat=100),
                            batch_size=a.batch, shuffle=True, generator=torch.Generator().manual_seed(0))
        it, t0 = iter(loader), time.time()
        for step in range(a.steps + 1):
            if step % a.eval_every == 0:
                ev = evaluate(module, val_batches)
                rows.append({"objective": name, "step": step, "val_loss": ev["loss"], "val_acc_pitch": ev["acc_pitch"],
                             "seconds": round(time.time() - t0, 1)})
                print(rows[-1], flush=True)
            if step == a.steps:
                break
            loss = module.compute_losses(next(it)["tokens"])["loss"]
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 3.0)
            opt.step()
            sched.step()
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "m2bert_curves.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in ("RC+pianoroll", "MLM"):
        r = [x for x in rows if x["objective"] == name]
        axes[0].plot([x["step"] for x in r], [x["val_loss"] for x in r], marker="o", label=name)
        axes[1].plot([x["step"] for x in r], [x["val_acc_pitch"] for x in r], marker="o", label=name)
    axes[0].set(title="validation loss (each objective's own)", xlabel="step")
    axes[1].set(title="pitch accuracy on predicted tokens", xlabel="step")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(f"tiny M2BERT on {a.data}: {len(train)} train / {len(val)} val files, len {a.seq_len}, batch {a.batch}")
    fig.tight_layout()
    fig.savefig(RESULTS / "m2bert_curves.png", dpi=110)
    last = {n: [x for x in rows if x["objective"] == n][-1] for n in ("RC+pianoroll", "MLM")}
    md = ["# Tiny M2BERT pretraining curves: RC(4,12,12) + pianoroll vs MLM", "",
          f"Command: `nice .venv/bin/python benchmarks/m2bert_curves.py --data {a.data} --steps {a.steps} "
          f"--seq-len {a.seq_len} --batch {a.batch}`", "",
          f"{len(train)} training / {len(val)} validation files (file-level split), {sum(map(len, arrays))} CP tokens.",
          "", "| objective | final val loss (own objective) | pitch acc. on predicted tokens | wall s |", "|---|---|---|---|"]
    md += [f"| {n} | {r['val_loss']:.3f} | {r['val_acc_pitch']:.3f} | {r['seconds']} |" for n, r in last.items()]
    md += ["", "The two losses measure different tasks (restricted-range correction vs [MASK] reconstruction) on",
           "different token sets (30 % vs 15 %), so compare curves within an objective; the pitch accuracies are",
           "progress indicators, not a verdict on which pretraining transfers better (that is smcbench's job).", "",
           "![curves](m2bert_curves.png)", ""]
    (RESULTS / "m2bert_curves.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
