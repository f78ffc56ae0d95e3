from hiertrans.audio import load_audio, render_midi  # noqa: F401
