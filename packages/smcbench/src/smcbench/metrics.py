"""Task metrics over non-pad targets: accuracy, F1 of the positive class (binary note tasks), macro-F1."""

from __future__ import annotations

import torch
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

POSITIVE = 2  # note-level binary tasks: 0 pad, 1 negative, 2 positive


def score(metric: str, preds: torch.Tensor, target: torch.Tensor, n_classes: int, ignore_index: int | None = 0) -> float:
    """`preds`/`target` are class ids; targets equal to `ignore_index` are left out."""
    preds, target = preds.reshape(-1), target.reshape(-1)
    if ignore_index is not None:
        keep = target != ignore_index
        preds, target = preds[keep], target[keep]
    if target.numel() == 0:
        return float("nan")
    if metric == "acc":
        return float((preds == target).float().mean())
    if metric == "f1":
        tp = ((preds == POSITIVE) & (target == POSITIVE)).sum().item()
        fp = ((preds == POSITIVE) & (target != POSITIVE)).sum().item()
        fn = ((preds != POSITIVE) & (target == POSITIVE)).sum().item()
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    if metric == "macro_f1":
        return float(multiclass_f1_score(preds, target, n_classes, average="macro"))
    if metric == "micro_acc":
        return float(multiclass_accuracy(preds, target, n_classes, average="micro"))
    raise ValueError(f"unknown metric {metric!r}")
