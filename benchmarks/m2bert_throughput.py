"""Train-step throughput (forward + backward + AdamW step, tokens/s) of our M2BERT encoder vs HF ModernBertModel
with the same config, weights and inputs, in one run; plus achieved FLOP/s vs this CPU's measured fp32 matmul peak.

    nice .venv/bin/python benchmarks/m2bert_throughput.py [--preset small] [--batch 4] [--seq-len 512] [--rounds 5]

Both models get the same CP embedding in front and the same pitch head + cross-entropy behind; runs alternate
(ours, HF, ours, ...) and the median of `rounds` is reported, since the CPU is shared with other jobs.
Writes benchmarks/results/m2bert_throughput.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
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
    target = toks[..., 2]
    start = time.perf_counter()
    for _ in range(steps):
        h = encoder(toks, mask)
        loss = F.cross_entropy(head(h)[mask], target[mask])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def model_flops_per_step(cfg: EncoderConfig, B: int, T: int) -> float:
    """Useful fp32 FLOPs of fwd+bwd (3 x forward): matmuls + attention over the keys each layer can see."""
    H, Fi, L = cfg.hidden_size, cfg.intermediate_size, cfg.num_layers
    linear = 2 * (3 * H * H + H * H + H * 2 * Fi + Fi * H)
    per_token = 2 * len(cfg.vocab_sizes) * cfg.embed_dim * H + 2 * H * cfg.vocab_sizes[2]
    for i in range(L):
        keys = T if cfg.is_global(i) else min(T, cfg.local_window + 1)
        per_token += linear + 4 * keys * H
    return 3.0 * per_token * B * T


def matmul_peak(n=1024, reps=20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "m2bert_throughput.md"))
    a = ap.parse_args()
    torch.manual_seed(0)
    cfg = EncoderConfig.from_name(a.preset, attention_dropout=0.0, mlp_dropout=0.0)
    ours = M2BertEncoder(cfg)
    hf = HFWrapped(cfg, ours)
    toks, mask = make_batch(cfg, a.batch, a.seq_len)
    with torch.no_grad():
        diff = (ours(toks, mask) - hf(toks, mask))[mask].abs().max().item()
    runs = {}
    for name, enc in (("ours", ours), ("hf", hf)):
        head = nn.Linear(cfg.hidden_size, cfg.vocab_sizes[2])
        opt = torch.optim.AdamW(list(enc.parameters()) + list(head.parameters()), lr=1e-4, fused=True)
        step_time(enc, head, opt, toks, mask, 1)  # warm-up
        runs[name] = (enc, head, opt, [])
    for _ in range(a.rounds):
        for enc, head, opt, times in runs.values():
            times.append(step_time(enc, head, opt, toks, mask, a.steps))
    peak = matmul_peak()
    flops = model_flops_per_step(cfg, a.batch, a.seq_len)
    ntok = a.batch * a.seq_len
    rows = []
    for name, (_, _, _, times) in runs.items():
        t = statistics.median(times)
        rows.append((name, t, ntok / t, flops / t / 1e9, flops / t / peak))
    ratio = rows[1][1] / rows[0][1]
    lines = [
        "# M2BERT train-step throughput: ours vs HF ModernBertModel (same config, weights, inputs)", "",
        f"Command: `nice .venv/bin/python benchmarks/m2bert_throughput.py --preset {a.preset} --batch {a.batch} "
        f"--seq-len {a.seq_len} --steps {a.steps} --rounds {a.rounds}`", "",
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads (CPU shared with other jobs: median of {a.rounds} alternating rounds).",
        f"Config `{a.preset}`: {cfg.num_layers} x {cfg.hidden_size}, {cfg.num_heads} heads, FFN {cfg.intermediate_size}, "
        f"local window {cfg.local_window}; batch {a.batch} x {a.seq_len} tokens (20 % padding in half the rows).",
        f"Max |difference| of the two models' outputs on real tokens: {diff:.2e}.", "",
        "| model | s/step | tokens/s | useful GFLOP/s | fraction of fp32 matmul peak |", "|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {t:.3f} | {tps:.0f} | {gf:.1f} | {frac:.1%} |" for n, t, tps, gf, frac in rows]
    lines += ["", f"**Speed-up ours / HF: {ratio:.2f}x** (goal >= 1.3x).",
              f"Measured fp32 matmul peak (1024^3 GEMM, best of 20): {peak / 1e9:.1f} GFLOP/s. Useful FLOPs count "
              "local layers over the 129 keys they can see (dense-masked kernels do more work than that).", ""]
    text = "\n".join(lines)
    print(text)
    Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
