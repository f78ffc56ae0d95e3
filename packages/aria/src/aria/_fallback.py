"""Stand-ins with symcore.attention / symcore.rope semantics, used only until those modules are installed."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def attention(q, k, v, *, causal=False, window=None, key_padding_mask=None, backend="auto"):
    if window is not None or key_padding_mask is not None:
        raise NotImplementedError("fallback attention supports causal/full only")
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def rope_cache(seq_len, head_dim, base, device=None, dtype=torch.float32):
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    ang = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv)
    ang = torch.cat([ang, ang], -1)
    return ang.cos().to(dtype), ang.sin().to(dtype)


def apply_rope(x, cos, sin):
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], -1)
    return x * cos + rot * sin


def load_weights(path):
    """safetensors, or a weights_only torch file; never an arbitrary pickle."""
    from pathlib import Path

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{path}: not a safetensors file or a weights-only torch checkpoint ({err})") from err


def save_weights(state_dict, path, metadata=None):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(path), metadata=metadata)
