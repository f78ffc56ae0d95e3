"""Real training steps on real MIDI: pretraining objectives, loss going down, fine-tuning heads, export/load."""

import lightning as L
import numpy as np
import pytest
import torch
from m2bert.data import CropDataset, TaskDataModule
from m2bert.module import M2BertFinetuneModule, M2BertPretrainModule

TINY = {"hidden_size": 32, "num_layers": 3, "num_heads": 2, "intermediate_size": 48, "embed_dim": 16,
        "local_window": 16, "attention_dropout": 0.0, "mlp_dropout": 0.0}


def _batch(arrays, n=4, seq_len=64, seed=0):
    torch.manual_seed(seed)
    ds = CropDataset(arrays, seq_len, random=True)
    return {"tokens": torch.stack([ds[i % len(ds)]["tokens"] for i in range(n)])}


@pytest.mark.parametrize("kw", [
    {"objective": "denoise"},
    {"objective": "denoise", "chroma": False},
    {"objective": "denoise", "pianoroll": False, "ranges": (float("inf"),) * 3},
    {"objective": "mlm", "pianoroll": False},
])
def test_objectives_give_finite_losses_and_gradients(cp_arrays, kw):
    module = M2BertPretrainModule(encoder=TINY, **kw)
    losses = module.compute_losses(_batch(cp_arrays)["tokens"])
    losses["loss"].backward()
    assert torch.isfinite(losses["loss"])
    assert ("mse_pianoroll" in losses) == kw.get("pianoroll", True)
    grads = [p.grad for p in module.encoder.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    if kw["objective"] == "denoise" and kw.get("pianoroll", True):
        # the paper weighting: (4 CE_bar + 18 CE_pos + 88 CE_pitch + 66 CE_dur + MSE) / 177
        ce = [losses[f"ce_{f}"] for f in ("bar", "pos", "pitch", "dur")]
        expect = (4 * ce[0] + 18 * ce[1] + 88 * ce[2] + 66 * ce[3] + losses["mse_pianoroll"]) / 177
        torch.testing.assert_close(losses["loss"], expect)


def test_tiny_pretrain_drives_loss_down(cp_arrays):
    torch.manual_seed(0)
    module = M2BertPretrainModule(encoder=TINY, lr=3e-3)
    opt = torch.optim.AdamW(module.parameters(), lr=3e-3)
    fixed = _batch(cp_arrays, n=8, seed=123)["tokens"]

    def eval_loss():
        module.eval()
        with torch.no_grad():
            return module.compute_losses(fixed, torch.Generator().manual_seed(0))["loss"].item()

    before = eval_loss()
    module.train()
    for step in range(12):
        loss = module.compute_losses(_batch(cp_arrays, n=4, seed=step)["tokens"])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss()
    assert after < 0.7 * before, (before, after)


def _task_data(arrays, level):
    rng = np.random.default_rng(0)
    if level == "note":  # a learnable note task: is the pitch above middle C
        ex = [(a, (a[:, 2] + 22 >= 60).astype(np.int64)) for a in arrays]
    else:
        ex = [(a[:200], int(rng.integers(0, 3))) for a in arrays]
    return TaskDataModule(ex[:4], ex[4:], seq_len=64, batch_size=4)


@pytest.mark.parametrize("level", ["note", "sequence"])
def test_finetune_step(cp_arrays, level, tmp_path):
    data = _task_data(cp_arrays, level)
    module = M2BertFinetuneModule(num_classes=2 if level == "note" else 3, level=level, encoder=TINY, lr=1e-3)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    trainer = L.Trainer(max_steps=3, limit_val_batches=1, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path)
    trainer.fit(module, data)
    trainer.validate(module, data, verbose=False)
    after = module.state_dict()
    assert not torch.equal(before["head.classifier.weight"], after["head.classifier.weight"])
    assert not torch.equal(before["encoder.layers.0.attn.Wqkv.weight"], after["encoder.layers.0.attn.Wqkv.weight"])
    assert np.isfinite(trainer.callback_metrics["val/loss"].item())


def test_pretrain_fit_exports_a_loadable_encoder(midi_files, tmp_path):
    """Lightning fit over a MIDI folder (token cache, crops) writes encoder.safetensors that fine-tuning loads."""
    from m2bert.data import CPDataModule
    from m2bert.export import load_encoder, read_config

    folder = tmp_path / "midi"
    folder.mkdir()
    for p in midi_files[:4]:
        (folder / p.name).symlink_to(p)
    data = CPDataModule(data=str(folder), seq_len=64, batch_size=2, val_fraction=0.25, cache_dir=str(tmp_path / "c"))
    module = M2BertPretrainModule(encoder=TINY)
    trainer = L.Trainer(max_steps=2, limit_val_batches=1, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_checkpointing=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(module, data)
    path = tmp_path / "encoder.safetensors"
    assert read_config(path) == module.config
    enc = load_encoder(path).eval()
    module.encoder.eval()
    tokens = data.val_set[0]["tokens"][None]
    with torch.no_grad():
        torch.testing.assert_close(enc(tokens), module.encoder(tokens))
    ft = M2BertFinetuneModule(num_classes=3, encoder_weights=str(path))
    assert torch.equal(ft.encoder.layers[0].attn.Wqkv.weight, module.encoder.layers[0].attn.Wqkv.weight)
    # `m2bert export` of a Lightning checkpoint (config from its hyper-parameters, weights-only loading)
    from m2bert.cli import main as cli_main

    trainer.save_checkpoint(tmp_path / "last.ckpt")
    cli_main(["export", str(tmp_path / "last.ckpt"), str(tmp_path / "exported.safetensors")])
    again = load_encoder(tmp_path / "exported.safetensors").eval()
    assert again.config == module.config
    with torch.no_grad():
        torch.testing.assert_close(again(tokens), enc(tokens))


def test_stableadamw_option_takes_a_step(cp_arrays):
    """optimizer="stableadamw" (torch-optimi, the paper's optimiser) configures and takes a real training step."""
    optimi = pytest.importorskip("optimi", reason="torch-optimi provides StableAdamW")
    module = M2BertPretrainModule(encoder=TINY, lr=1e-3, optimizer="stableadamw", warmup_steps=5)
    conf = module.configure_optimizers()
    opt = conf["optimizer"]
    assert isinstance(opt, optimi.StableAdamW)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]
    before = module.encoder.layers[0].attn.Wqkv.weight.detach().clone()
    loss = module.compute_losses(_batch(cp_arrays)["tokens"])["loss"]
    loss.backward()
    opt.step()
    conf["lr_scheduler"]["scheduler"].step()
    after = module.encoder.layers[0].attn.Wqkv.weight
    assert torch.isfinite(after).all() and not torch.equal(before, after)
    with pytest.raises(ValueError, match="optimizer"):
        M2BertPretrainModule(encoder=TINY, optimizer="sgd").configure_optimizers()
