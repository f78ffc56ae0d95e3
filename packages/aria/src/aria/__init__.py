"""aria: the Aria piano-performance language model (EleutherAI, arXiv 2506.23869) in symphonia."""

from aria.config import ARIA_VOCAB_SIZE, PRESETS, AriaConfig
from aria.model import Aria, AriaDecoder, KVCache, count_parameters

__all__ = ["ARIA_VOCAB_SIZE", "PRESETS", "Aria", "AriaConfig", "AriaDecoder", "KVCache", "count_parameters"]
