"""symtok: tokenizers for symbolic music (CP, Aria absolute-onset, transcription notes) and the token cache."""

from symtok.cache import TokenCache, build_cache, cached  # noqa: F401
