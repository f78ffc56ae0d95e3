import os

import pytest
import torch
from symcore.weights import (
    WeightsError,
    is_safetensors,
    load_checkpoint,
    load_weights,
    read_metadata,
    save_weights,
)
from torch import nn


class _Marker:
    """Unpickling this would run `touch <marker>`: the attack a weights loader must refuse."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 6)
        self.body = nn.Sequential(nn.Linear(6, 6), nn.LayerNorm(6), nn.Linear(6, 4))
        self.head = nn.Linear(6, 11, bias=False)
        self.head.weight = self.emb.weight  # tied, as language models do
        self.register_buffer("steps", torch.tensor(3, dtype=torch.int64))


@pytest.mark.parametrize("legacy", [False, True])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, legacy):
    marker = tmp_path / "pwned"
    bad = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "payload": _Marker(marker)}, bad,
               _use_new_zipfile_serialization=not legacy)
    assert not marker.exists()
    for loader in (load_weights, load_checkpoint):
        with pytest.raises(WeightsError, match="refusing to execute pickled code") as err:
            loader(bad)
        assert str(bad) in str(err.value) and "posix.system" in str(err.value)
    assert not marker.exists()


def test_round_trip_of_a_model_with_tied_and_viewed_tensors(tmp_path):
    torch.manual_seed(0)
    model = _Tied()
    state = model.state_dict()
    state["view_of_row"] = model.emb.weight[2]  # a view into another tensor's storage
    state["transposed"] = model.body[0].weight.t()  # non-contiguous
    out = save_weights(state, tmp_path / "sub" / "m.safetensors", metadata={"config": {"d": 6}, "name": "tiny"})
    loaded = load_weights(out)
    assert loaded.keys() == state.keys()
    for k, v in state.items():
        torch.testing.assert_close(loaded[k], v, rtol=0, atol=0)
        assert loaded[k].dtype == v.dtype
    assert read_metadata(out) == {"config": '{"d": 6}', "name": "tiny"}
    fresh = _Tied()
    fresh.load_state_dict({k: v for k, v in loaded.items() if k in model.state_dict()})
    x = torch.randint(0, 11, (2, 5))
    torch.testing.assert_close(fresh.head(fresh.emb(x)), model.head(model.emb(x)))
    assert [p.name for p in out.parent.iterdir()] == ["m.safetensors"]  # no temp files left behind


def test_failed_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights({"a": torch.ones(3)}, path)
    with pytest.raises(TypeError, match="not a tensor"):
        save_weights({"a": torch.zeros(3), "b": [1, 2]}, path)
    torch.testing.assert_close(load_weights(path)["a"], torch.ones(3))
    assert len(list(tmp_path.iterdir())) == 1


def test_truncated_safetensors_gives_a_clear_error(tmp_path):
    good = save_weights({"a": torch.randn(64, 64)}, tmp_path / "w.safetensors")
    data = good.read_bytes()
    for name, blob in {"truncated.safetensors": data[: len(data) // 2], "header_only.safetensors": data[:20],
                       "empty.safetensors": b""}.items():
        bad = tmp_path / name
        bad.write_bytes(blob)
        with pytest.raises(WeightsError, match="corrupt or truncated safetensors") as err:
            load_weights(bad)
        assert name in str(err.value)


def test_safetensors_detected_by_content_and_torch_files_load(tmp_path):
    sd = {"w": torch.arange(6.0).view(2, 3), "b": torch.zeros(2, dtype=torch.float16)}
    odd = save_weights(sd, tmp_path / "weights.bin")
    assert is_safetensors(odd)
    torch.testing.assert_close(load_weights(odd)["w"], sd["w"])
    torch.save(sd, tmp_path / "plain.pt")
    assert not is_safetensors(tmp_path / "plain.pt")
    torch.testing.assert_close(load_weights(tmp_path / "plain.pt")["b"], sd["b"])
    (tmp_path / "junk.pt").write_bytes(b"hello world, not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pt: not a readable torch"):
        load_weights(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_weights(tmp_path / "missing.pt")
    torch.save({"model": sd}, tmp_path / "nested.pt")
    with pytest.raises(WeightsError, match="not a flat dict of tensors"):
        load_weights(tmp_path / "nested.pt")
    torch.save({"state_dict": sd, "epoch": 3}, tmp_path / "research.pt")
    assert load_weights(tmp_path / "research.pt").keys() == sd.keys()
    torch.save({"state_dict": sd, "mask_lm": {"proj.weight": torch.ones(2)}, "epoch": 3}, tmp_path / "two.pt")
    with pytest.raises(WeightsError, match="besides state_dict \\(mask_lm\\); use load_checkpoint"):
        load_weights(tmp_path / "two.pt")
    assert set(load_checkpoint(tmp_path / "two.pt")) == {"state_dict", "mask_lm", "epoch"}


def test_lightning_checkpoint_state_dict_and_hparams(tmp_path):
    L = pytest.importorskip("lightning")

    class Tiny(L.LightningModule):
        def __init__(self, width: int = 4, name: str = "tiny"):
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Linear(width, 1)

        def training_step(self, batch, _):
            return self.net(batch[0]).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=1e-2)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 4)), batch_size=4)
    trainer = L.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path)
    module = Tiny(width=4)
    trainer.fit(module, data)
    ckpt = tmp_path / "last.ckpt"
    trainer.save_checkpoint(ckpt)
    weights = load_weights(ckpt)
    assert set(weights) == {"net.weight", "net.bias"}
    torch.testing.assert_close(weights["net.weight"], module.net.weight.detach())
    full = load_checkpoint(ckpt)
    assert full["hyper_parameters"]["width"] == 4 and "optimizer_states" in full
