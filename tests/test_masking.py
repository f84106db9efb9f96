"""The sparse mask, pseudo-attention and masked attention of SPEC §3 (paper Eq. 5-10)."""

import pytest
import torch

from causalnet.models.cab import MultiHeadAttention
from causalnet.models.cmplm import MaskedCrossAttention
from causalnet.models.masking import SparseMask, masked_attention_weights, pseudo_attention, sparse_mask


def test_mask_masks_exactly_the_diagonally_opposite_key():
    m = sparse_mask(2, 2, radius=1)
    assert m.shape == (4, 4)
    assert torch.equal(m, m.T)
    assert torch.equal((m == 0).sum(dim=1), torch.ones(4, dtype=torch.long))
    # token order (0,0) (0,1) (1,0) (1,1): the masked key is the opposite corner
    assert [int(torch.nonzero(row == 0)) for row in m] == [3, 2, 1, 0]
    assert torch.equal(torch.diagonal(m), torch.ones(4))


def test_pseudo_attention_values():
    m = sparse_mask(2, 2, radius=1)
    p = pseudo_attention(m, gamma=0.5)
    expected = torch.zeros(4, 4)
    for i, j in enumerate([3, 2, 1, 0]):
        expected[i, j] = -0.5 * (j + 1)  # 1-based key column
    assert torch.allclose(p, expected)


def test_masked_rows_do_not_sum_to_one():
    m = sparse_mask(2, 2)
    weights = masked_attention_weights(torch.randn(5, 4, 4), m, pseudo_attention(m, 0.5))
    sums = weights.sum(-1)
    assert torch.all(sums < 1 - 1e-4)
    assert torch.all(weights[..., m == 0] == 0)


@pytest.mark.parametrize("gamma", [0.3, 0.5, 1.0])
def test_row_sums_strictly_decrease_for_identical_tokens(gamma):
    """Eq. 5-8: identical inputs give row sums that fall with the row index (absolute position)."""
    mask = SparseMask((2, 2), radius=1, gamma=gamma)
    torch.manual_seed(0)
    token = torch.randn(1, 1, 32).expand(1, 4, 32)
    scores = torch.einsum("bid,bjd->bij", token, token) / 32**0.5
    sums = mask(scores).sum(-1)[0]
    assert torch.all(sums[1:] < sums[:-1]), sums
    # the same holds inside the real attention modules (their weights are what is summed)
    for module in (MaskedCrossAttention(32, 4, mask), MultiHeadAttention(32, 4, mask)):
        captured = {}
        handle = _capture_mask(mask, captured)
        if isinstance(module, MaskedCrossAttention):
            module(token, token)
        else:
            module(token)
        handle.remove()
        row_sums = captured["w"].sum(-1)  # [B, heads, 4]
        assert torch.all(row_sums[..., 1:] < row_sums[..., :-1])


def _capture_mask(mask, captured):
    return mask.register_forward_hook(lambda mod, inp, out: captured.__setitem__("w", out.detach()))


def test_without_pseudo_attention_p_is_zero():
    mask = SparseMask((2, 2), gamma=0.5, pseudo=False)
    assert torch.count_nonzero(mask.pseudo) == 0
    w = mask(torch.zeros(1, 4, 4))
    # masked logits are 0 like the kept ones: every row sums to 3/4
    assert torch.allclose(w.sum(-1), torch.full((1, 4), 0.75))


def test_gamma_must_be_positive():
    with pytest.raises(ValueError, match="gamma"):
        SparseMask((2, 2), gamma=0.0)
