"""Model weights on disk without executing anyone's code.

We write safetensors only. We read safetensors, or torch files through ``torch.load(weights_only=True)``, whose
restricted unpickler accepts tensors and plain containers and refuses everything else — a checkpoint that needs a
custom class to load is rejected with `WeightsError` instead of being run. Every checkpoint loader in symphonia goes
through here.
"""

from __future__ import annotations

import json
import pickle
import struct
from collections.abc import Mapping
from pathlib import Path

import torch

from symcore.atomic import atomic_path


class WeightsError(ValueError):
    """A weights file is unreadable, corrupt, or would need arbitrary code to load; names the file and cause."""

    def __init__(self, path: str | Path | None, cause: str):
        self.path = None if path is None else str(path)
        self.cause = cause
        super().__init__(f"{self.path or '<weights>'}: {cause}")


def save_weights(state_dict: Mapping[str, torch.Tensor], path: str | Path,
                 metadata: Mapping[str, object] | None = None) -> Path:
    """Write tensors as safetensors, atomically (a crash never leaves a half-written file under ``path``).

    Tensors are detached, moved to CPU and made contiguous; tensors sharing storage (tied embeddings, views) are
    copied apart, so they load back as independent tensors with equal values. Metadata values that are not
    strings are stored as JSON.
    """
    from safetensors.torch import save_file

    path = Path(path)
    tensors, seen = {}, set()
    for name, t in state_dict.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{path}: state_dict entry {name!r} is {type(t).__name__}, not a tensor")
        t = t.detach().cpu()
        storage = (t.untyped_storage().data_ptr(), t.device.type) if t.numel() else None
        covers_storage = t.is_contiguous() and t.untyped_storage().nbytes() == t.numel() * t.element_size()
        if storage in seen or not covers_storage:
            t = t.clone(memory_format=torch.contiguous_format)
        if storage is not None:
            seen.add(storage)
        tensors[str(name)] = t
    meta = None if metadata is None else {
        str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_weights(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """name -> tensor from a .safetensors file, a torch state dict, or the ``state_dict`` of a Lightning .ckpt."""
    path = Path(path)
    if is_safetensors(path):
        return _load_safetensors(path, map_location)
    obj = load_checkpoint(path, map_location)
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        # Lightning (and many research) checkpoints nest the weights here. Other tensor groups next to it (e.g.
        # M2BERT's `mask_lm` heads) would be lost silently, so those files must go through load_checkpoint.
        others = [k for k, v in obj.items() if k != "state_dict" and _holds_tensors(v)
                  and k not in ("optimizer_states", "lr_schedulers", "callbacks", "loops")]
        if others:
            raise WeightsError(path, f"holds tensor groups besides state_dict ({', '.join(map(str, others[:4]))}); "
                                     "use load_checkpoint to get all of them")
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise WeightsError(path, f"holds a {type(obj).__name__}, not a dict of tensors")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError(path, f"not a flat dict of tensors (entries {bad[:3]} are not tensors); "
                                 "use load_checkpoint for the whole object")
    return dict(obj)


def _holds_tensors(value) -> bool:
    if isinstance(value, Mapping):
        return any(isinstance(v, torch.Tensor) for v in value.values())
    return isinstance(value, torch.Tensor)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> object:
    """The whole object of a torch file (e.g. a Lightning checkpoint with hyper_parameters), weights-only
    unpickling; safetensors files give their tensor dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if is_safetensors(path):
        return _load_safetensors(path, map_location)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()
        detail = next((line for line in first if "GLOBAL" in line or "Unsupported" in line), first[0] if first else "")
        raise WeightsError(path, "refusing to execute pickled code: the file needs arbitrary unpickling to load "
                                 f"({detail.strip()[:200]}). Re-save its tensors as safetensors with code you "
                                 "trust, or use plain containers of tensors.") from None
    except Exception as err:  # zip/miniz RuntimeError, EOFError, KeyError from junk opcodes, ...
        raise WeightsError(path, f"not a readable torch or safetensors file ({type(err).__name__}: "
                                 f"{str(err).strip()[:200]})") from None


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata stored in a safetensors header ({} when there is none)."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), "pt") as f:
            return dict(f.metadata() or {})
    except Exception as err:  # safetensors raises its own SafetensorError, not exported stably
        raise WeightsError(path, f"corrupt or truncated safetensors file ({err})") from None


def is_safetensors(path: str | Path) -> bool:
    """By suffix, or by content: an 8-byte little-endian header length followed by a JSON object."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 2 <= struct.unpack("<Q", head[:8])[0] <= path.stat().st_size


def _load_safetensors(path: Path, map_location) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    device = str(map_location) if map_location is not None else "cpu"
    try:
        return load_file(str(path), device=device)
    except Exception as err:  # SafetensorError for bad headers/lengths, OSError for short reads
        raise WeightsError(path, f"corrupt or truncated safetensors file ({err})") from None
