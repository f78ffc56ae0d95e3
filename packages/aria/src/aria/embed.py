"""File embeddings: the mean of slice embeddings (consecutive note slices, each read at its `<E>`), as upstream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from aria.model import Aria
from aria.tokens import DIM_ID, EOS_ID, PAD_ID, TokenTables


@torch.inference_mode()
def file_embedding(model: Aria, tables: TokenTables, ids: np.ndarray, notes_per_slice: int = 300,
                   max_len: int = 2048, batch_size: int = 8) -> np.ndarray:
    """(emb_dim,) mean embedding over the file's slices of `notes_per_slice` notes."""
    ids = np.asarray(ids, np.int64)
    n = len(tables.note_starts(ids))
    if n == 0:
        raise ValueError("no notes to embed")
    max_len = min(max_len, model.config.max_seq_len)
    slices = []
    for first in range(0, n, notes_per_slice):
        s = tables.slice_notes(ids, first, notes_per_slice)
        s = s[s != DIM_ID][:max_len]
        s[-1] = EOS_ID  # a truncated slice still ends in <E>, where the head reads
        slices.append(s)
    device = next(model.parameters()).device
    model.eval()
    embs = []
    for k in range(0, len(slices), batch_size):
        chunk = slices[k:k + batch_size]
        width = max(len(s) for s in chunk)
        batch = torch.full((len(chunk), width), PAD_ID, dtype=torch.long)
        for r, s in enumerate(chunk):
            batch[r, : len(s)] = torch.from_numpy(s)
        eos = torch.tensor([len(s) - 1 for s in chunk])
        embs.append(model.embed(batch.to(device), eos.to(device)).float().cpu())
    return torch.cat(embs).mean(0).numpy()


def embed_files(model: Aria, tokenizer, files: list[Path], notes_per_slice: int = 300, max_len: int = 2048,
                progress: bool = True) -> tuple[np.ndarray, list[Path], list[tuple[Path, str]]]:
    """Embeddings of readable files (rows), the files they belong to, and (file, reason) of skipped ones."""
    from tqdm.auto import tqdm

    tables = TokenTables(tokenizer.vocab)
    rows, kept, failed = [], [], []
    for path in tqdm(files, desc="embedding", unit="file", disable=not progress):
        try:
            rows.append(file_embedding(model, tables, tokenizer.encode_file(path), notes_per_slice, max_len))
            kept.append(path)
        except Exception as err:  # noqa: BLE001 - a batch job reports bad files and carries on
            failed.append((path, f"{type(err).__name__}: {err}"))
    dim = model.config.emb_dim or 0
    return (np.stack(rows) if rows else np.zeros((0, dim), np.float32)), kept, failed
