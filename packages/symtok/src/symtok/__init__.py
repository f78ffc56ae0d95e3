"""symtok: tokenizers for symbolic music (CP, Aria absolute-onset, transcription notes) and the token cache."""

from symtok.aria import AbsTokenizer, add_dim_token  # noqa: F401
from symtok.cache import TokenCache, build_cache, cached  # noqa: F401
from symtok.cp import CP_MASK, CP_PAD, CP_VOCAB_SIZES, CPTokenizer  # noqa: F401
