"""M2BERT: a ModernBERT encoder over CP tokens, pretrained by token denoising + pianoroll prediction (or MLM)."""

from m2bert.config import CP_VOCAB_SIZES, PRESETS, EncoderConfig
from m2bert.model import CPEmbedding, M2BertEncoder

__all__ = ["CP_VOCAB_SIZES", "PRESETS", "CPEmbedding", "EncoderConfig", "M2BertEncoder"]
