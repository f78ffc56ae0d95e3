"""Official EleutherAI/aria layout <-> ours: names, shapes, lossless round trip, identical outputs."""

import math

import pytest
import torch
import torch.nn.functional as F
from aria import Aria, AriaConfig
from aria.weights import from_official, load_checkpoint, save_checkpoint, to_official

V, D, L, H, FF = 50, 32, 2, 4, 4


def official_state_dict(head: str = "lm", size: int = V) -> dict[str, torch.Tensor]:
    """Exactly the names and shapes of EleutherAI/aria's TransformerLM/EMB/CL (ModelConfig d=32, 2 layers, ff x4)."""
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.1

    sd = {"model.tok_embeddings.weight": r(V, D)}
    for i in range(L):
        p = f"model.encode_layers.{i}."
        sd.update({
            p + "mixed_qkv.weight": r(3 * D, D), p + "att_proj_linear.weight": r(D, D),
            p + "ff_gate_proj.weight": r(FF * D, D), p + "ff_up_proj.weight": r(FF * D, D),
            p + "ff_down_proj.weight": r(D, FF * D),
            p + "norm1.weight": 1 + r(D), p + "norm1.bias": r(D), p + "norm2.weight": 1 + r(D), p + "norm2.bias": r(D),
        })
    sd["model.out_layer_norm.weight"], sd["model.out_layer_norm.bias"] = 1 + r(D), r(D)
    sd[{"lm": "lm_head.weight", "emb": "emb_head.weight", "cls": "class_head.weight"}[head]] = r(size, D)
    return sd


def reference_forward(sd, ids):
    """The official forward written out from its description: half-split RoPE with base 500000, chunked qkv."""
    x = sd["model.tok_embeddings.weight"][ids]
    b, t, _ = x.shape
    dh = D // H
    freqs = 1.0 / (500000 ** (torch.arange(0, dh, 2).float() / dh))
    ang = torch.outer(torch.arange(t).float(), freqs)
    cos, sin = ang.cos()[None, :, None], ang.sin()[None, :, None]

    def rope(z):  # (b,t,h,dh)
        z1, z2 = z[..., : dh // 2], z[..., dh // 2:]
        return torch.cat([z1 * cos - z2 * sin, z2 * cos + z1 * sin], -1)

    for i in range(L):
        p = f"model.encode_layers.{i}."
        h = F.layer_norm(x, (D,), sd[p + "norm1.weight"], sd[p + "norm1.bias"])
        q, k, v = (h @ sd[p + "mixed_qkv.weight"].T).chunk(3, -1)
        q, k, v = (z.reshape(b, t, H, dh) for z in (q, k, v))
        q, k = rope(q), rope(k)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        att = att.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
        x = x + (att @ v).transpose(1, 2).reshape(b, t, D) @ sd[p + "att_proj_linear.weight"].T
        h = F.layer_norm(x, (D,), sd[p + "norm2.weight"], sd[p + "norm2.bias"])
        ff = F.silu(h @ sd[p + "ff_gate_proj.weight"].T) * (h @ sd[p + "ff_up_proj.weight"].T)
        x = x + ff @ sd[p + "ff_down_proj.weight"].T
    return F.layer_norm(x, (D,), sd["model.out_layer_norm.weight"], sd["model.out_layer_norm.bias"])


@pytest.mark.parametrize("head", ["lm", "emb", "cls"])
def test_round_trip_is_lossless(head):
    sd = official_state_dict(head, 512 if head == "emb" else 7)
    back = to_official(from_official(sd))
    assert back.keys() == sd.keys()
    for k in sd:
        assert torch.equal(back[k], sd[k]), k


def test_compiled_prefix_is_accepted_and_unknown_rejected():
    sd = {"_orig_mod." + k: v for k, v in official_state_dict().items()}
    assert "decoder.embed.weight" in from_official(sd)
    with pytest.raises(KeyError, match="unexpected"):
        from_official({"model.encode_layers.0.mystery.weight": torch.zeros(1)})


def test_loaded_official_model_matches_reference_forward(tmp_path):
    from safetensors.torch import save_file

    sd = official_state_dict("lm")
    save_file(sd, str(tmp_path / "official.safetensors"))
    model = load_checkpoint(tmp_path / "official.safetensors", n_heads=H, max_seq_len=64).eval()
    assert model.config.d_model == D and model.config.n_layers == L and model.emb_head is None
    ids = torch.randint(0, V, (2, 13))
    with torch.no_grad():
        ours = model(ids)
    ref = reference_forward(sd, ids) @ sd["lm_head.weight"].T
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    # and back to the official names, bit for bit
    exported = to_official(model.state_dict())
    assert all(torch.equal(exported[k], sd[k]) for k in sd)


def test_official_embedding_checkpoint_embeds_at_eos(tmp_path):
    from safetensors.torch import save_file

    sd = official_state_dict("emb", 512)
    save_file(sd, str(tmp_path / "emb.safetensors"))
    model = load_checkpoint(tmp_path / "emb.safetensors", n_heads=H, max_seq_len=64).eval()
    ids = torch.tensor([[0, 9, 10, 11, 1, 2, 2]])
    with torch.no_grad():
        emb = model.embed(ids)
    ref = reference_forward(sd, ids)[0, 4] @ sd["emb_head.weight"].T
    torch.testing.assert_close(emb[0], ref, rtol=1e-4, atol=1e-5)


def test_our_checkpoint_carries_its_config(tmp_path):
    model = Aria(AriaConfig.preset("tiny", vocab_size=V, n_classes=3))
    save_checkpoint(model, tmp_path / "m.safetensors")
    again = load_checkpoint(tmp_path / "m.safetensors")
    assert again.config == model.config
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v)
    with pytest.raises(ValueError, match="does not fit"):
        load_checkpoint(tmp_path / "m.safetensors", config=AriaConfig.preset("tiny", vocab_size=V, n_layers=3))


def test_linear_weights_stay_column_major_through_a_checkpoint(tmp_path):
    """The decode-speed layout (see model._column_major_linears) survives save/load; the file is contiguous."""
    model = Aria(AriaConfig.preset("tiny", vocab_size=V))
    save_checkpoint(model, tmp_path / "m.safetensors")
    again = load_checkpoint(tmp_path / "m.safetensors")
    for m in (again.lm_head, again.decoder.layers[0].qkv, again.decoder.layers[1].ffn_down):
        assert m.weight.stride() == (1, m.weight.shape[0]) and m.weight.t().is_contiguous()
    from safetensors.torch import load_file

    assert all(t.is_contiguous() for t in load_file(tmp_path / "m.safetensors").values())
