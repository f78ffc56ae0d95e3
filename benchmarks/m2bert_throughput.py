"""Train-step throughput (forward + backward + AdamW step, tokens/s) of our M2BERT encoder vs HF ModernBertModel
with the same config, weights and inputs, in one run; plus achieved FLOP/s vs this CPU's measured fp32 matmul peak.

    OMP_NUM_THREADS=2 nice .venv/bin/python benchmarks/m2bert_throughput.py [--preset small] [--batch 4]
        [--seq-len 512 1024] [--rounds 5]

All models get the same CP embedding in front and the same pitch head + cross-entropy behind; runs alternate
(ours, ours with unpad=True, HF, ...) and medians over `rounds` are reported, since the CPU is shared.
Writes benchmarks/results/m2bert_throughput.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from m2bert.config import EncoderConfig
from m2bert.convert import hf_config, ours_to_hf
from m2bert.model import CPEmbedding, M2BertEncoder
from torch import nn


class HFWrapped(nn.Module):
    def __init__(self, cfg: EncoderConfig, ours: M2BertEncoder):
        super().__init__()
        from transformers import ModernBertModel

        self.cp_embedding = CPEmbedding(cfg.vocab_sizes, cfg.embed_dim, cfg.hidden_size)
        self.cp_embedding.load_state_dict(ours.cp_embedding.state_dict())
        self.model = ModernBertModel(hf_config(cfg, attn_implementation="sdpa"))
        missing, unexpected = self.model.load_state_dict(ours_to_hf(ours.state_dict()), strict=False)
        assert not unexpected and missing == ["embeddings.tok_embeddings.weight"], (missing, unexpected)

    def forward(self, tokens, mask):
        return self.model(inputs_embeds=self.cp_embedding(tokens), attention_mask=mask.long()).last_hidden_state


def make_batch(cfg, B, T, seed=0):
    g = torch.Generator().manual_seed(seed)
    toks = torch.stack([torch.randint(0, n - 2, (B, T), generator=g) for n in cfg.vocab_sizes], -1)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[B // 2:, int(T * 0.8):] = False  # some padding, as real crops have
    toks[~mask] = torch.tensor(cfg.pad_ids)
    return toks, mask


def step_time(encoder, head, opt, toks, mask, steps):
    """(wall seconds, process CPU seconds) per step. CPU time is the less load-sensitive of the two on a shared
    machine (time spent descheduled does not count), though OpenMP spin-waiting still does."""
    target = toks[..., 2]
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        h = encoder(toks, mask)
        loss = F.cross_entropy(head(h)[mask], target[mask])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps


def model_flops_per_step(cfg: EncoderConfig, B: int, T: int) -> float:
    """Useful fp32 FLOPs of fwd+bwd (3 x forward): matmuls + attention over the keys each layer can see."""
    H, Fi, L = cfg.hidden_size, cfg.intermediate_size, cfg.num_layers
    linear = 2 * (3 * H * H + H * H + H * 2 * Fi + Fi * H)
    per_token = 2 * len(cfg.vocab_sizes) * cfg.embed_dim * H + 2 * H * cfg.vocab_sizes[2]
    for i in range(L):
        keys = T if cfg.is_global(i) else min(T, cfg.local_window + 1)
        per_token += linear + 4 * keys * H
    return 3.0 * per_token * B * T


DEFAULT_OUT = "benchmarks/results/m2bert_throughput.md"


def matmul_peak(n=1024, reps=10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def build(cfg: EncoderConfig):
    """{name: encoder} with identical weights: ours (default config), ours with unpad=True, HF."""
    torch.manual_seed(0)
    ours = M2BertEncoder(replace(cfg, unpad=False))
    packed = M2BertEncoder(replace(cfg, unpad=True))
    packed.load_state_dict(ours.state_dict())
    return {"ours": ours, "ours, unpad=True": packed, "hf": HFWrapped(cfg, ours)}


def train_setup(cfg, enc, toks, mask):
    """(head, optimizer) for timing `enc` with step_time, after one untimed warm-up step."""
    head = nn.Linear(cfg.hidden_size, cfg.vocab_sizes[2])
    opt = torch.optim.AdamW(list(enc.parameters()) + list(head.parameters()), lr=1e-4, fused=True)
    step_time(enc, head, opt, toks, mask, 1)
    return head, opt


def measure(cfg, B, T, rounds, steps):
    """Interleaved rounds (every model once per round, plus a matmul peak measurement) -> per-model step times."""
    encoders = build(cfg)
    toks, mask = make_batch(cfg, B, T)
    with torch.no_grad():  # outputs compared without dropout; timed steps run in train mode
        ref = encoders["hf"].eval()(toks, mask)
        diff = max((enc.eval()(toks, mask) - ref)[mask].abs().max().item() for enc in encoders.values())
    for enc in encoders.values():
        enc.train()
    runs = {name: (enc, *train_setup(cfg, enc, toks, mask), []) for name, enc in encoders.items()}
    peaks, names = [], list(runs)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order every round
            enc, head, opt, times = runs[name]
            times.append(step_time(enc, head, opt, toks, mask, steps))
        peaks.append(matmul_peak())
    return {name: r[3] for name, r in runs.items()}, peaks, diff


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--dropout", type=float, default=0.0,
                    help="attention and MLP dropout of every model (M2BERT trains with 0.1; 0 isolates the kernels)")
    a = ap.parse_args()
    cfg = EncoderConfig.from_name(a.preset, attention_dropout=a.dropout, mlp_dropout=a.dropout,
                                  max_len=max(a.seq_len + [EncoderConfig.from_name(a.preset).max_len]))
    lines = [
        "# M2BERT train-step throughput: ours vs HF ModernBertModel (same config, weights, inputs)", "",
        f"Command: `OMP_NUM_THREADS={torch.get_num_threads()} nice .venv/bin/python benchmarks/m2bert_throughput.py "
        f"--preset {a.preset} --batch {a.batch} --seq-len {' '.join(map(str, a.seq_len))} --steps {a.steps} "
        f"--rounds {a.rounds}{f' --dropout {a.dropout:g}' if a.dropout else ''}"
        f"{'' if a.out == DEFAULT_OUT else ' --out ' + a.out}`", "",
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; the CPU is shared with other jobs, so each round runs every model once "
        f"(interleaved) plus a 1024^3 GEMM, and the medians over {a.rounds} rounds are reported.",
        f"Config `{a.preset}`: {cfg.num_layers} x {cfg.hidden_size}, {cfg.num_heads} heads, FFN "
        f"{cfg.intermediate_size}, local window {cfg.local_window} (+-{cfg.local_window // 2}); batch {a.batch}, "
        "20 % padding in half the rows (10 % of all tokens). Train step = forward + cross-entropy head + backward + "
        f"fused AdamW; attention and MLP dropout {a.dropout:g} in every model.", "",
        "| T | model | wall s/step | CPU s/step | tokens/s | useful GFLOP/s | of fp32 matmul peak | HF / this (wall) "
        "| HF / this (CPU) | HF / this, median of per-round ratios |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for T in a.seq_len:
        times, peaks, diff = measure(cfg, a.batch, T, a.rounds, a.steps)
        peak = statistics.median(peaks)
        flops = model_flops_per_step(cfg, a.batch, T)
        hf_w = statistics.median(w for w, _ in times["hf"])
        hf_c = statistics.median(c for _, c in times["hf"])
        for name, ts in times.items():
            t, c = statistics.median(w for w, _ in ts), statistics.median(c for _, c in ts)
            per_round = statistics.median(h[0] / o[0] for h, o in zip(times["hf"], ts, strict=True))
            lines.append(f"| {T} | {name} | {t:.3f} | {c:.3f} | {a.batch * T / t:.0f} | {flops / t / 1e9:.1f} | "
                         f"{flops / t / peak:.1%} | {hf_w / t:.2f}x | {hf_c / c:.2f}x | {per_round:.2f}x |")
        ratios = sorted(h[0] / o[0] for h, o in zip(times["hf"], times["ours"], strict=True))
        notes.append(f"- T = {T}: fp32 matmul peak median {peak / 1e9:.1f} GFLOP/s (rounds: "
                     f"{', '.join(f'{p / 1e9:.0f}' for p in peaks)}); per-round HF/ours ratios "
                     f"{', '.join(f'{r:.2f}' for r in ratios)}; max |output difference| vs HF on real tokens "
                     f"{diff:.1e}.")
        print("\n".join(lines[-len(times):] + notes[-1:]), flush=True)
    lines += ["", *notes, "",
              "Useful FLOPs count matmuls of fwd + bwd (3x forward) and, for local layers, only the "
              f"{cfg.local_window + 1} keys a query can see; the dense masked kernels (HF, and ours below "
              "symcore.attention.BLOCKED_MIN_SPANS) compute all T.", ""]
    text = "\n".join(lines)
    print(text)
    Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
