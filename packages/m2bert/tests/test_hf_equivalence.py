"""Our encoder equals HF ModernBertModel for the same weights (with padding, global and local layers)."""

from dataclasses import replace

import pytest
import torch
from m2bert.config import EncoderConfig
from m2bert.convert import hf_config, hf_to_ours, official_to_ours, ours_to_hf
from m2bert.model import M2BertEncoder

transformers = pytest.importorskip("transformers", reason="transformers is the reference implementation")

# 4 layers: global at 0 and 3, local (window 16 = +-8) at 1 and 2; T=40 so the window really cuts, T=100 so the
# local layers run symcore's blocked sliding-window path (T > 3 * 17).
CFG = EncoderConfig(hidden_size=48, num_layers=4, num_heads=4, intermediate_size=80, max_len=128, local_window=16,
                    embed_dim=16, attention_dropout=0.0, mlp_dropout=0.0)


def _hf_model(impl):
    torch.manual_seed(0)
    model = transformers.ModernBertModel(hf_config(CFG, attn_implementation=impl)).eval()
    with torch.no_grad():  # HF inits LayerNorm weights to 1; perturb them so the mapping of norms is tested
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.mark.parametrize(("impl", "T", "unpad", "padding"), [
    ("eager", 40, True, "right"), ("sdpa", 40, True, "right"), ("sdpa", 100, True, "right"),
    ("sdpa", 100, False, "right"), ("sdpa", 100, True, "left")])
def test_layer_stack_matches_hf(impl, T, unpad, padding):
    """right + unpad: packed varlen path; otherwise the padded path with a key mask."""
    from symcore.attention import use_blocked_local

    half = CFG.local_window // 2
    assert use_blocked_local(T, T, False, (half, half)) == (T == 100)
    hf = _hf_model(impl)
    ours = M2BertEncoder(replace(CFG, unpad=unpad)).eval()
    missing, unexpected = ours.load_state_dict(hf_to_ours(hf.state_dict()), strict=False)
    assert not unexpected and all(k.startswith("cp_embedding.") for k in missing)
    torch.manual_seed(1)
    x = torch.randn(3, T, CFG.hidden_size)
    mask = torch.ones(3, T, dtype=torch.bool)
    mask[1, T - 11:] = False
    mask[2, 11:] = False
    if padding == "left":
        mask = mask.flip(1)
    with torch.no_grad():
        ref = hf(inputs_embeds=x, attention_mask=mask.long(), output_hidden_states=True)
        got, hidden = ours.forward_embeds(x, mask, output_hidden_states=True)
    real = mask
    err = (got[real] - ref.last_hidden_state[real]).abs().max() / ref.last_hidden_state[real].abs().max()
    assert err <= 1e-5, f"relative error {err:.2e}"
    assert torch.isfinite(got).all()
    # every intermediate layer output too (HF 5.x records embeddings + each layer; the last equals final output)
    for i in range(1, CFG.num_layers):
        e = (hidden[i][real] - ref.hidden_states[i][real]).abs().max() / ref.hidden_states[i][real].abs().max()
        assert e <= 1e-5, f"layer {i}: relative error {e:.2e}"


def test_mapping_round_trip_and_padding_does_not_leak():
    hf = _hf_model("sdpa")
    sd = hf_to_ours(hf.state_dict())
    back = ours_to_hf(sd)
    assert set(back) == set(hf.state_dict()) - {"embeddings.tok_embeddings.weight"}
    ours = M2BertEncoder(CFG).eval()
    ours.load_state_dict(sd, strict=False)
    x = torch.randn(1, 30, CFG.hidden_size)
    mask = torch.ones(1, 30, dtype=torch.bool)
    mask[0, 20:] = False
    y = torch.cat([x[:, :20], 100 * torch.randn(1, 10, CFG.hidden_size)], dim=1)
    with torch.no_grad():
        a = ours.forward_embeds(x, mask)[0, :20]
        b = ours.forward_embeds(y, mask)[0, :20]
        c = ours.forward_embeds(x[:, :20])[0]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-5)


def test_cp_embedding_and_official_layout():
    """The official checkpoint layout maps onto ours; CP embedding = concat(scaled tables) @ in_linear."""
    hf = _hf_model("eager")
    torch.manual_seed(2)
    tables = [torch.randn(n, CFG.embed_dim) for n in CFG.vocab_sizes]
    w, b = torch.randn(CFG.hidden_size, 4 * CFG.embed_dim), torch.randn(CFG.hidden_size)
    official = {f"note_bert1.{k}": v for k, v in hf.state_dict().items()}
    official.update({f"word_emb.{i}.lut.weight": t for i, t in enumerate(tables)})
    official.update({"in_linear.weight": w, "in_linear.bias": b})
    mask_lm = {f"proj.{i}.weight": torch.randn(n, CFG.hidden_size) for i, n in enumerate((*CFG.vocab_sizes, 1666))}
    enc_state, heads = official_to_ours(official, mask_lm)
    ours = M2BertEncoder(CFG).eval()
    ours.load_state_dict(enc_state, strict=True)
    assert set(heads) == {f"fields.{i}.weight" for i in range(4)} | {"pianoroll.weight"}
    tokens = torch.tensor([[[0, 3, 40, 7], [1, 5, 44, 3], [2, 16, 86, 64]]])
    manual = torch.cat([tables[i][tokens[..., i]] for i in range(4)], -1) * CFG.embed_dim ** 0.5 @ w.T + b
    torch.testing.assert_close(ours.cp_embedding(tokens), manual, rtol=1e-5, atol=1e-6 * manual.abs().max().item())
    mask = tokens[..., 0] != 2
    with torch.no_grad():
        ref = hf(inputs_embeds=manual, attention_mask=mask.long()).last_hidden_state
        got = ours(tokens)
    torch.testing.assert_close(got[mask], ref[mask], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("unpad", [False, True])
def test_training_gradients_match_hf(unpad):
    """Backward too (hand-written RoPE and GeGLU backwards, blocked local attention, packed or padded layer
    stack): every weight's gradient of a loss on the real positions equals HF's."""
    hf = _hf_model("sdpa")
    ours = M2BertEncoder(replace(CFG, unpad=unpad))
    ours.load_state_dict(hf_to_ours(hf.state_dict()), strict=False)
    torch.manual_seed(5)
    x = torch.randn(2, 100, CFG.hidden_size)
    mask = torch.ones(2, 100, dtype=torch.bool)
    mask[1, 70:] = False
    w = torch.randn(100, CFG.hidden_size)
    (hf(inputs_embeds=x, attention_mask=mask.long()).last_hidden_state[mask] * w[mask.nonzero()[:, 1]]).sum().backward()
    (ours.forward_embeds(x, mask)[mask] * w[mask.nonzero()[:, 1]]).sum().backward()
    hf_grads = hf_to_ours({k: p.grad for k, p in hf.named_parameters() if p.grad is not None})
    checked = 0
    for name, p in ours.named_parameters():
        if name in hf_grads:
            ref = hf_grads[name]
            err = (p.grad - ref).abs().max() / ref.abs().max()
            assert err <= 1e-4, f"{name}: relative gradient error {err:.2e}"
            checked += 1
    assert checked == len(hf_grads) == sum(1 for k, _ in ours.named_parameters() if not k.startswith("cp_"))
