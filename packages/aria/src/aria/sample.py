"""Sampling from an Aria LM with a static KV cache: prefill once, then one token per step, on any device.

Several variations of one prompt run as one batch. Filters follow upstream practice: temperature, then min-p
(keep tokens with p >= min_p * p_max; arXiv 2407.01082) or nucleus top-p. With `force_end`, a `<D>` ("wrap up")
token is written in place of the sampled token once fewer than `dim_margin` steps remain, at a token where a note
may start (never between a note and its onset/duration), so the model learns-to-end on cue as in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from aria.model import Aria, packed_linears

BOS_ID, EOS_ID, PAD_ID, UNK_ID, DIM_ID = 0, 1, 2, 3, 4


@dataclass
class SamplingConfig:
    """How new tokens are drawn."""

    temperature: float = 0.98
    """Softmax temperature; 0 means greedy."""
    top_p: float | None = None
    """Nucleus sampling mass (used when min_p is None)."""
    min_p: float | None = 0.035
    """Min-p threshold relative to the most likely token (upstream default 0.035)."""
    force_end: bool = False
    """Insert `<D>` near the length limit so the piece wraps up."""
    dim_margin: int = 130
    """How many steps before the limit `<D>` is forced."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature {self.temperature} outside [0, 2]")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p {self.top_p} outside (0, 1]")
        if self.min_p is not None and not 0.0 <= self.min_p <= 1.0:
            raise ValueError(f"min_p {self.min_p} outside [0, 1]")


def min_p_filter(probs: torch.Tensor, min_p: float) -> torch.Tensor:
    """Zero tokens below min_p * max prob and renormalise; probs (..., V)."""
    keep = probs >= min_p * probs.amax(-1, keepdim=True)
    out = probs * keep
    return out / out.sum(-1, keepdim=True)


def top_p_filter(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose mass reaches top_p (the crossing token included)."""
    sorted_p, order = probs.sort(-1, descending=True)
    drop_sorted = sorted_p.cumsum(-1) - sorted_p >= top_p  # mass before this token already suffices
    drop_sorted[..., 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    out = probs.masked_fill(drop, 0.0)
    return out / out.sum(-1, keepdim=True)


def next_token(logits: torch.Tensor, cfg: SamplingConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """logits (B,V) -> token ids (B,)."""
    if cfg.temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / cfg.temperature, -1)
    if cfg.min_p is not None:
        probs = min_p_filter(probs, cfg.min_p)
    elif cfg.top_p is not None:
        probs = top_p_filter(probs, cfg.top_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.inference_mode()
def generate(model: Aria, prompt: list[int] | torch.Tensor, max_new_tokens: int, *, variations: int = 1,
             sampling: SamplingConfig | None = None, dim_ok: torch.Tensor | None = None,
             generator: torch.Generator | None = None, progress: bool = False) -> list[list[int]]:
    """Continue `prompt` `variations` times; returns each continuation (new ids only, up to and with `<E>`).

    `dim_ok` (V,) bool marks tokens that `<D>` may replace under force_end (default: any token).
    """
    sampling = sampling or SamplingConfig()
    prompt = torch.as_tensor(prompt, dtype=torch.long).flatten()
    n = prompt.numel()
    if n == 0:
        raise ValueError("empty prompt: give at least the start token")
    ctx = model.config.max_seq_len
    if n >= ctx:
        raise ValueError(f"prompt of {n} tokens does not fit the model's context of {ctx}")
    total = min(n + max_new_tokens, ctx)
    device = next(model.parameters()).device
    model.eval()
    cache = model.new_cache(variations, total, device=device)
    seq = prompt.to(device).expand(variations, n)
    done = torch.zeros(variations, dtype=torch.bool, device=device)
    dim_placed = (prompt == DIM_ID).any().to(device).expand(variations).clone()
    dim_ok = dim_ok.to(device) if dim_ok is not None else None
    out = torch.full((variations, total - n), PAD_ID, dtype=torch.long, device=device)

    with packed_linears(model, variations):  # decode-step products of `variations` rows (prefill is not)
        logits = model(seq, cache=cache, start_pos=0, last_only=True)[:, -1]  # prefill: (B,V)
        steps = range(n, total)
        for pos in tqdm(steps, desc="generating", unit="tok", disable=not progress, leave=False):
            tok = next_token(logits, sampling, generator)
            if sampling.force_end and pos >= total - sampling.dim_margin:
                may = ~dim_placed & ~done
                if dim_ok is not None:
                    may &= dim_ok[tok]
                tok = torch.where(may, torch.full_like(tok, DIM_ID), tok)
            tok = torch.where(done, torch.full_like(tok, PAD_ID), tok)
            dim_placed |= tok == DIM_ID
            done |= tok == EOS_ID
            out[:, pos - n] = tok
            if bool(done.all()) or pos + 1 == total:
                break
            logits = model(tok[:, None], cache=cache, start_pos=pos)[:, -1]

    results = []
    for row in out.tolist():
        end = row.index(EOS_ID) + 1 if EOS_ID in row else len(row)
        results.append([t for t in row[:end] if t != PAD_ID])
    return results
