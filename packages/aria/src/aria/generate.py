"""MIDI in, MIDI out: prompts from the first seconds of a file, continuations written as MIDI + pianoroll PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aria.model import Aria
from aria.sample import SamplingConfig, generate
from aria.tokens import BOS_ID, TokenTables


def prompt_from_midi(tokenizer, tables: TokenTables, path: str | Path, seconds: float) -> np.ndarray:
    """Ids of the notes starting in the first `seconds` of `path` (leading silence removed by the tokenizer)."""
    ids = np.asarray(tokenizer.encode_file(path), np.int64)
    prompt = tables.cut_seconds(ids, seconds)
    if not len(tables.note_starts(prompt)):
        raise ValueError(f"{path}: empty prompt — no notes in the first {seconds:g} s")
    return prompt


def dim_ok_mask(tables: TokenTables):
    """Tokens `<D>` may replace: anything but a note's onset/duration (never split a note)."""
    import torch

    from aria.tokens import DUR, ONSET

    return torch.from_numpy((tables.kind != DUR) & (tables.kind != ONSET))


def continue_midi(model: Aria, tokenizer, prompt: str | Path, out_dir: str | Path, *, prompt_seconds: float = 15.0,
                  length: int = 2048, variations: int = 4, sampling: SamplingConfig | None = None,
                  seed: int | None = None, progress: bool = True) -> list[Path]:
    """Write `variations` continuations of `prompt` as MIDI + PNG into `out_dir`; returns the MIDI paths."""
    import torch

    tables = TokenTables(tokenizer.vocab)
    ids = prompt_from_midi(tokenizer, tables, prompt, prompt_seconds)
    ctx = model.config.max_seq_len
    if len(ids) >= ctx:
        raise ValueError(f"{prompt}: the {prompt_seconds:g} s prompt is {len(ids)} tokens, longer than the model's "
                         f"context of {ctx}; use a shorter --prompt-seconds")
    gen = torch.Generator(next(model.parameters()).device)
    if seed is not None:
        gen.manual_seed(seed)
    else:
        gen.seed()
    outs = generate(model, ids.tolist(), length, variations=variations, sampling=sampling,
                    dim_ok=dim_ok_mask(tables), generator=gen, progress=progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for k, new in enumerate(outs):
        full = np.concatenate([ids, np.asarray(new, np.int64)])
        midi = tokenizer.write_midi(full, out_dir / f"{Path(prompt).stem}_var{k}.mid")
        save_pianoroll(tokenizer.detokenize(full), midi.with_suffix(".png"),
                       title=f"{Path(prompt).name} + variation {k}", split_sec=_last_onset_sec(tables, ids))
        written.append(midi)
    return written


def _last_onset_sec(tables: TokenTables, ids: np.ndarray) -> float:
    on = tables.onsets_ms(ids)
    return float(on.max()) / 1000 if len(on) else 0.0


def save_pianoroll(notes, path: Path, title: str = "", split_sec: float | None = None) -> Path:
    """Pianoroll PNG (symcore.plot) with the end of the prompt marked."""
    from symcore.plot import save_pianoroll_png

    title = f"{title} (prompt ends at {split_sec:.1f} s)" if split_sec is not None else title
    return save_pianoroll_png(notes, path, title=title)


__all__ = ["BOS_ID", "continue_midi", "prompt_from_midi", "save_pianoroll"]
