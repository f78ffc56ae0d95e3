"""symtok: tokenizers for symbolic music (CP, Aria absolute-onset, transcription notes) and the token cache."""
