"""Weight layouts of other implementations mapped onto ours: HF `ModernBertModel` and the official M2BERT checkpoint.

Official `model_best.ckpt` (york135/M2BERT, `torch.save` of a dict): `state_dict` holds the MidiModernBERT module —
`word_emb.{0..3}.lut.weight` (CP tables), `in_linear.{weight,bias}`, and the HF model under `note_bert1.` — and
`mask_lm` holds the heads `proj.{0..3}` (bar/position/pitch/duration logits) and `proj.4` (1666-dim pianoroll).
HF's `embeddings.tok_embeddings` is unused there (inputs arrive as `inputs_embeds`) and is dropped.
Files are read through `symcore.weights.load_weights` (safetensors, or torch.load with weights_only=True).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from m2bert.config import EncoderConfig

_HF_RENAMES = [(r"^embeddings\.norm\.", "embed_norm."), (r"^embeddings\.tok_embeddings\..*", None)]


def hf_to_ours(state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """HF ModernBertModel keys (optionally under `prefix`) -> M2BertEncoder keys (layer stack and norms only)."""
    out = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix):]
        for pattern, repl in _HF_RENAMES:
            if re.match(pattern, key):
                key = None if repl is None else re.sub(pattern, repl, key)
                break
        if key is not None:
            out[key] = value
    return out


def ours_to_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of `hf_to_ours` for the layer stack (the CP embedding has no HF counterpart)."""
    out = {}
    for key, value in state.items():
        if key.startswith("cp_embedding."):
            continue
        out[re.sub(r"^embed_norm\.", "embeddings.norm.", key)] = value
    return out


def official_to_ours(state: dict[str, torch.Tensor], mask_lm: dict[str, torch.Tensor] | None = None):
    """(encoder state, head state) from the official checkpoint's `state_dict` and `mask_lm` entries."""
    enc = hf_to_ours(state, prefix="note_bert1.")
    for key, value in state.items():
        m = re.match(r"^word_emb\.(\d+)\.lut\.weight$", key)
        if m:
            enc[f"cp_embedding.fields.{m.group(1)}.weight"] = value
        elif key.startswith("in_linear."):
            enc["cp_embedding.proj." + key[len("in_linear."):]] = value
    heads = {}
    for key, value in (mask_lm or {}).items():
        m = re.match(r"^proj\.(\d+)\.(weight|bias)$", key)
        if m:
            i = int(m.group(1))
            heads[(f"fields.{i}." if i < 4 else "pianoroll.") + m.group(2)] = value
    return enc, heads


def load_official_checkpoint(path: str | Path, config: EncoderConfig | None = None):
    """Build an encoder (paper config, pre-final-norm features as the released heads expect) and its pretraining
    heads from an official `model_best.ckpt`. Returns (encoder, heads_state)."""
    from symcore.weights import load_weights

    from m2bert.model import M2BertEncoder

    raw = load_weights(path)
    state = raw.get("state_dict", raw)
    enc_state, heads = official_to_ours(state, raw.get("mask_lm"))
    config = config or EncoderConfig(final_norm=False, attention_dropout=0.1, mlp_dropout=0.1)
    encoder = M2BertEncoder(config)
    missing, unexpected = encoder.load_state_dict(enc_state, strict=False)
    missing = [k for k in missing if not (k.startswith("final_norm.") and not config.final_norm)]
    unexpected = [k for k in unexpected if not k.startswith("final_norm.")]
    if missing or unexpected:
        raise ValueError(f"{path}: not an M2BERT checkpoint for this config (missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]})")
    return encoder, heads


def hf_config(config: EncoderConfig, attn_implementation: str = "sdpa"):
    """The `transformers.ModernBertConfig` with the same architecture (transformers is a test/benchmark dependency)."""
    try:
        from transformers import ModernBertConfig
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("transformers is needed for HF ModernBERT interop: pip install transformers") from e
    return ModernBertConfig(
        vocab_size=10, hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
        max_position_embeddings=config.max_len, local_attention=config.local_window,
        global_attn_every_n_layers=config.global_every, global_rope_theta=config.global_rope_theta,
        local_rope_theta=config.local_rope_theta, attention_dropout=config.attention_dropout,
        mlp_dropout=config.mlp_dropout, embedding_dropout=config.embedding_dropout, norm_eps=config.norm_eps,
        norm_bias=False, attention_bias=False, mlp_bias=False, hidden_activation="gelu", pad_token_id=0,
        bos_token_id=None, eos_token_id=None, cls_token_id=None, sep_token_id=None,
        attn_implementation=attn_implementation,
    )
