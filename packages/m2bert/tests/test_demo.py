"""`python -m m2bert.demo` writes the encoder smcbench.demo reads (tiny settings; the corpus comes from music21)."""

import pytest

pytest.importorskip("music21", reason="the demo's corpus is music21's")


@pytest.mark.slow
def test_demo_writes_a_loadable_encoder(tmp_path):
    from m2bert.demo import main
    from m2bert.export import load_encoder, read_config
    from symcore.weights import read_metadata

    results = main(["--files", "20", "--pretrain-steps", "3", "--finetune-steps", "2", "--out", str(tmp_path)])
    path = tmp_path / "encoder.safetensors"
    assert set(results) == {"pretrained", "scratch"}
    assert read_metadata(path)["format"] == "m2bert-encoder/1"
    assert load_encoder(path).config == read_config(path)
    assert not list(tmp_path.glob("*.tmp"))  # written atomically: no temporary left behind
