import torch
from symcore.pooling import SelfAttentivePooling


def test_padding_does_not_change_the_pooled_vector():
    torch.manual_seed(0)
    pool = SelfAttentivePooling(8, d_a=4, r=2)
    x = torch.randn(1, 5, 8)
    mask = torch.tensor([[True, True, True, False, False]])
    padded = torch.cat([x[:, :3], torch.randn(1, 2, 8) * 100], dim=1)
    a, b = pool(x[:, :3]), pool(padded, mask)
    assert a.shape == (1, 16)
    torch.testing.assert_close(a, b)


def test_each_hop_is_a_convex_combination():
    pool = SelfAttentivePooling(3, d_a=4, r=3)
    x = torch.ones(2, 4, 3) * torch.tensor([1.0, 2.0, 3.0])  # every position identical
    out = pool(x).view(2, 3, 3)
    torch.testing.assert_close(out, x[:, :3])  # any convex combination of identical rows is that row
