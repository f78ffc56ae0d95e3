"""symcore.dropout vs torch's dropout on CPU: the mask alone, and a whole M2BERT train step, A/B in one process.

The peer ("torch") is what the code did before symcore.dropout: `F.dropout` for the residual/MLP dropouts and
`F.scaled_dot_product_attention(dropout_p=...)` for attention (its CPU math path draws the mask). The runs
alternate between the two in every round (order flipped each round); medians over rounds are reported, and the
median of per-round ratios, since the CPU may be shared.

    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/symcore_dropout.py --seq-len 512 1024 --rounds 6
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import symcore.attention as attn_mod
import symcore.dropout as drop_mod
import torch
import torch.nn.functional as F
from m2bert.config import PRESETS
from m2bert.model import M2BertEncoder

sys.path.insert(0, str(Path(__file__).parent))
from m2bert_throughput import make_batch, step_time, train_setup  # noqa: E402


@contextlib.contextmanager
def torch_dropout():
    """Route symcore's dropout and attention-with-dropout back to torch's own kernels."""
    saved = drop_mod.dropout, attn_mod._sdpa_call

    def sdpa(q, k, v, mask, p, scale, is_causal=False):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal, scale=scale)

    drop_mod.dropout = lambda x, p, training=True, generator=None: F.dropout(x, p, training)
    attn_mod._sdpa_call = sdpa
    try:
        yield
    finally:
        drop_mod.dropout, attn_mod._sdpa_call = saved


def ab(fn, rounds: int) -> tuple[float, float, float]:
    """(median torch s, median symcore s, median per-round torch/symcore) for fn() -> seconds."""
    t_torch, t_ours = [], []
    for r in range(rounds):
        for which in (("torch", "ours") if r % 2 else ("ours", "torch")):
            if which == "torch":
                with torch_dropout():
                    t_torch.append(fn())
            else:
                t_ours.append(fn())
    ratio = statistics.median(a / b for a, b in zip(t_torch, t_ours))
    return statistics.median(t_torch), statistics.median(t_ours), ratio


def mask_only(shape, p: float):
    x = torch.randn(shape, requires_grad=True)

    def run():
        start = time.process_time()
        drop_mod.dropout(x, p).sum().backward()
        return time.process_time() - start

    return run


def train_step(T: int, unpad: bool, batch: int):
    cfg = replace(PRESETS["small"], unpad=unpad)
    torch.manual_seed(0)
    enc = M2BertEncoder(cfg)
    toks, mask = make_batch(cfg, batch, T)
    head, opt = train_setup(cfg, enc, toks, mask)
    return lambda: step_time(enc, head, opt, toks, mask, 1)[1]  # process CPU seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq-len", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--out", default="benchmarks/results/symcore_dropout.md")
    args = ap.parse_args()
    rows = []
    for T in args.seq_len:
        shape = (args.batch, 6, T, T)
        rows.append((f"dropout(0.1) fwd+bwd on attention probabilities {tuple(shape)}", *ab(mask_only(shape, 0.1),
                                                                                          args.rounds)))
        for unpad in (False, True):
            label = f"M2BERT small train step, batch {args.batch}, T = {T}" + (", unpad=True" if unpad else "")
            rows.append((label, *ab(train_step(T, unpad, args.batch), args.rounds)))
            print(rows[-1], flush=True)
    cmd = "OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/symcore_dropout.py " + " ".join(sys.argv[1:])
    lines = [
        "# symcore.dropout vs torch dropout (CPU)", "", f"Command: `{cmd}`", "",
        f"Machine: {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads. CPU seconds "
        f"(process time), medians over {args.rounds} interleaved rounds; attention dropout 0.1 and MLP/output "
        "dropout 0.1 as in the M2BERT config. 'torch' = `F.dropout` + SDPA's own dropout (what the code did before).",
        "", "| what | torch s | symcore s | torch / symcore (median per round) |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {a:.3f} | {b:.3f} | {r:.2f}x |" for name, a, b, r in rows]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
