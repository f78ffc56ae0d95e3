"""Aria decode/prefill throughput on this CPU vs Hugging Face LlamaForCausalLM.generate at the same dimensions.

Both models get the same widths (d, layers, heads, SwiGLU x4, vocab 17,727, RoPE 5e5), random weights, greedy
decoding of a fixed number of new tokens with a KV cache (HF: its default DynamicCache; ours: the static cache).
Differences that remain: LLaMA uses RMSNorm where Aria uses LayerNorm. Runs alternate between the two, median of
`--repeats`. Decode-only rates subtract each side's prefill (a forward of the prompt with last-position logits,
as both generate loops do) from its generation time. Prints a markdown table and writes it (plus the command) to
benchmarks/results/aria_decode.md.

    nice python benchmarks/aria_decode.py --preset small --prompt 256 --new 128 --repeats 3
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import transformers
from aria import Aria, AriaConfig
from aria.sample import SamplingConfig, generate


def hf_llama(cfg: AriaConfig):
    from transformers import LlamaConfig, LlamaForCausalLM

    hf = LlamaConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, intermediate_size=cfg.ff_mult * cfg.d_model,
                     num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads,
                     num_key_value_heads=cfg.n_heads, max_position_embeddings=cfg.max_seq_len,
                     rope_theta=cfg.rope_base, tie_word_embeddings=False, attention_bias=False, mlp_bias=False)
    hf._attn_implementation = "sdpa"
    return LlamaForCausalLM(hf).eval()


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


@torch.no_grad()  # not inference_mode: weights built under it could not be version-tracked (packed_linears)
def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="small")
    p.add_argument("--prompt", type=int, default=256)
    p.add_argument("--new", type=int, default=128)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/aria_decode.md")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = AriaConfig.preset(a.preset, max_seq_len=a.prompt + a.new + 8, emb_dim=None)
    ours, hf = Aria(cfg).eval(), hf_llama(cfg)
    greedy = SamplingConfig(temperature=0.0, min_p=None)
    rows = []
    for b in a.batches:
        prompt = torch.randint(6, cfg.vocab_size, (a.prompt,))
        hf_in = prompt.expand(b, -1).contiguous()

        def run_ours(prompt=prompt, b=b):
            generate(ours, prompt, a.new, variations=b, sampling=greedy)

        def run_hf(hf_in=hf_in):
            hf.generate(hf_in, attention_mask=torch.ones_like(hf_in), max_new_tokens=a.new, min_new_tokens=a.new,
                        do_sample=False, eos_token_id=None, pad_token_id=0)

        def prefill_ours(hf_in=hf_in, b=b):
            ours(hf_in, cache=ours.new_cache(b, a.prompt), last_only=True)  # as generate's prefill

        def prefill_hf(hf_in=hf_in):
            hf(hf_in, use_cache=True, logits_to_keep=1)  # what generate's prefill computes (last-position logits)

        run_ours(), run_hf()  # warm-up
        t = {"ours": [], "hf": [], "pre_ours": [], "pre_hf": []}
        for _ in range(a.repeats):
            t["ours"].append(timed(run_ours))
            t["hf"].append(timed(run_hf))
            t["pre_ours"].append(timed(prefill_ours))
            t["pre_hf"].append(timed(prefill_hf))
        m = {k: statistics.median(v) for k, v in t.items()}
        # decode rate: new tokens over (generation time - prefill time), both measured in this run
        dec_ours = b * a.new / max(m["ours"] - m["pre_ours"], 1e-9)
        dec_hf = b * a.new / max(m["hf"] - m["pre_hf"], 1e-9)
        # ratios per round (ours and HF timed back to back), then the median: robust to load drifting between rounds
        r = range(a.repeats)
        ratio = (statistics.median(t["hf"][i] / t["ours"][i] for i in r),
                 statistics.median((t["hf"][i] - t["pre_hf"][i]) / (t["ours"][i] - t["pre_ours"][i]) for i in r),
                 statistics.median(t["pre_hf"][i] / t["pre_ours"][i] for i in r))
        rows.append((b, b * a.new / m["ours"], b * a.new / m["hf"], dec_ours, dec_hf,
                     b * a.prompt / m["pre_ours"], b * a.prompt / m["pre_hf"], ratio))
        print(rows[-1], flush=True)
    n_params = sum(p.numel() for p in ours.parameters()) / 1e6
    lines = [
        "# Aria decode throughput vs HF LlamaForCausalLM.generate (CPU)", "",
        f"Command: `nice {sys.executable.split('/')[-1]} benchmarks/aria_decode.py " + " ".join(sys.argv[1:]) + "`",
        "",
        f"Model: preset `{a.preset}` (d {cfg.d_model}, {cfg.n_layers} layers, {cfg.n_heads} heads, vocab "
        f"{cfg.vocab_size}, {n_params:.1f}M params), random weights, greedy, prompt {a.prompt} tokens, "
        f"{a.new} new tokens, torch {torch.__version__}, {a.threads} threads, {platform.processor() or 'cpu'}, "
        f"median of {a.repeats} rounds. HF transformers {transformers.__version__} with its default cache; "
        "identical widths (LLaMA has RMSNorm).",
        "The machine was shared with other jobs, so absolute numbers are noisy. Each round times aria then HF back to "
        "back; a ratio is the median over rounds of the per-round ratio (HF time / aria time), so it is not always "
        "the quotient of the two median rates shown next to it.",
        "",
        "| batch | end-to-end new tok/s (aria) | (HF) | ratio | decode-only new tok/s (aria) | (HF) | ratio "
        "| prefill tok/s (aria) | (HF) | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b, e2e_o, e2e_h, d_o, d_h, p_o, p_h, (r_e2e, r_dec, r_pre) in rows:
        lines.append(f"| {b} | {e2e_o:.1f} | {e2e_h:.1f} | {r_e2e:.2f}x | {d_o:.1f} | {d_h:.1f} | "
                     f"{r_dec:.2f}x | {p_o:.0f} | {p_h:.0f} | {r_pre:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
