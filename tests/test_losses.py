"""MMPO losses against hand-computed values and finite differences."""

import math

import pytest
import torch

from mmpo.losses import dpo_logits, ipo_loss, margin_loss, mmpo_loss, pair_loss, reward_logits, weighted_mean


def test_mmpo_loss_hand_values_batch():
    """loss = -(p log s(z) + (1-p) log s(-z)), with s the logistic function.

    z = 0:  ln 2 whatever p.
    z = 2, p = 1: -log s(2) = log(1 + e^-2) = 0.126928011...
    z = -1, p = 0.75: -(0.75 log s(-1) + 0.25 log s(1))
                      = 0.75 * 1.313261687 + 0.25 * 0.313261687 = 1.063261687...
    """
    z = torch.tensor([0.0, 0.0, 2.0, -1.0], dtype=torch.float64)
    p = torch.tensor([0.5, 0.9, 1.0, 0.75], dtype=torch.float64)
    loss = mmpo_loss(z, p)
    assert loss.shape == (4,)
    assert loss[0].item() == pytest.approx(math.log(2), abs=1e-15)
    assert loss[1].item() == pytest.approx(math.log(2), abs=1e-15)
    assert loss[2].item() == pytest.approx(math.log1p(math.exp(-2)), abs=1e-15)
    assert loss[3].item() == pytest.approx(
        0.75 * math.log1p(math.e) + 0.25 * math.log1p(math.exp(-1)), abs=1e-14
    )


def test_p_one_equals_standard_loss():
    z = torch.linspace(-5, 5, 11, dtype=torch.float64)
    standard = -torch.nn.functional.logsigmoid(z)
    torch.testing.assert_close(mmpo_loss(z, torch.ones_like(z)), standard)


def test_column_shapes_do_not_broadcast():
    """(B, 1) rewards meet (B,) targets: squeezed to (B,), never (B, B)."""
    z = torch.tensor([[1.0], [-2.0], [0.5]])
    p = torch.tensor([1.0, 0.6, 0.8])
    loss = mmpo_loss(z, p)
    assert loss.shape == (3,)
    torch.testing.assert_close(loss, mmpo_loss(z.squeeze(-1), p))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"z has shape \(3,\) but p_chosen has \(2,\)"):
        mmpo_loss(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match=r"expected shape \(B,\) or \(B, 1\)"):
        mmpo_loss(torch.zeros(2, 2), torch.zeros(2))


def test_loss_stable_for_large_logits():
    z = torch.tensor([1000.0, -1000.0])
    loss = mmpo_loss(z, torch.tensor([0.9, 0.9]))
    assert torch.isfinite(loss).all()
    assert loss[0].item() == pytest.approx(100.0, rel=1e-6)  # (1 - p) * 1000
    assert loss[1].item() == pytest.approx(900.0, rel=1e-6)  # p * 1000


def test_bf16_inputs_computed_in_float32():
    loss = mmpo_loss(torch.tensor([0.3], dtype=torch.bfloat16), torch.tensor([0.7], dtype=torch.bfloat16))
    assert loss.dtype == torch.float32


def test_dpo_logits_hand_value():
    # beta 0.1 * ((-10 - -12) - (-20 - -19)) = 0.1 * (2 - -1) = 0.3
    z = dpo_logits(
        torch.tensor([-10.0, -5.0]),
        torch.tensor([-20.0, -5.0]),
        torch.tensor([-12.0, -5.0]),
        torch.tensor([-19.0, -5.0]),
        beta=0.1,
    )
    torch.testing.assert_close(z, torch.tensor([0.3, 0.0]))


def test_reward_logits_squeezes_head_output():
    z = reward_logits(torch.tensor([[2.0], [1.0]]), torch.tensor([[0.5], [3.0]]))
    torch.testing.assert_close(z, torch.tensor([1.5, -2.0]))


def test_gradient_matches_finite_differences():
    """d loss / dz = sigmoid(z) - p; gradcheck compares autograd with finite differences."""
    z = torch.tensor([0.3, -1.2, 2.5], dtype=torch.float64, requires_grad=True)
    p = torch.tensor([0.9, 0.6, 0.5], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: mmpo_loss(v, p).sum(), (z,))
    mmpo_loss(z, p).sum().backward()
    torch.testing.assert_close(z.grad, torch.sigmoid(z.detach()) - p)


def test_ipo_hand_value():
    # beta 0.5: h = z / beta = 2 / 0.5 = 4; target 1 / (2 * 0.5) = 1; loss (4 - 1)^2 = 9.
    loss = ipo_loss(torch.tensor([2.0, 0.5]), beta=0.5)
    torch.testing.assert_close(loss, torch.tensor([9.0, 0.0]))


def test_margin_loss_hand_value():
    # -log sigmoid(3 - 1) = log(1 + e^-2); with margin 0 it is the Bradley-Terry loss.
    loss = margin_loss(
        torch.tensor([3.0, 3.0], dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64)
    )
    assert loss[0].item() == pytest.approx(math.log1p(math.exp(-2)), abs=1e-15)
    assert loss[1].item() == pytest.approx(math.log1p(math.exp(-3)), abs=1e-15)


def test_pair_loss_kinds_agree_with_definitions():
    z = torch.tensor([0.4, -0.7, 1.5], dtype=torch.float64)
    p = torch.tensor([0.9, 0.6, 0.75], dtype=torch.float64)
    torch.testing.assert_close(pair_loss("mmpo", z, p, beta=0.1), mmpo_loss(z, p))
    torch.testing.assert_close(pair_loss("hard", z, p, beta=0.1), -torch.nn.functional.logsigmoid(z))
    cdpo = pair_loss("cdpo", z, p, beta=0.1, label_smoothing=0.1)
    expected = -(0.9 * torch.nn.functional.logsigmoid(z) + 0.1 * torch.nn.functional.logsigmoid(-z))
    torch.testing.assert_close(cdpo, expected)
    torch.testing.assert_close(pair_loss("ipo", z, p, beta=0.1), (z / 0.1 - 5.0) ** 2)
    margin = torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(pair_loss("margin", z, p, beta=0.1, margin=margin), margin_loss(z, margin))


def test_pair_loss_rejects_unknown_and_missing_margin():
    with pytest.raises(ValueError, match="unknown loss 'kto'"):
        pair_loss("kto", torch.zeros(1), torch.zeros(1), beta=0.1)
    with pytest.raises(ValueError, match="needs a margin per pair"):
        pair_loss("margin", torch.zeros(1), torch.zeros(1), beta=0.1)


def test_weighted_mean_hand_value():
    # (1 * 2 + 3 * 4) / (1 + 3) = 3.5; equal weights give the plain mean.
    losses = torch.tensor([2.0, 4.0])
    assert weighted_mean(losses, torch.tensor([1.0, 3.0])).item() == pytest.approx(3.5)
    assert weighted_mean(losses, torch.tensor([2.0, 2.0])).item() == pytest.approx(3.0)
    assert weighted_mean(losses, None).item() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="weights have shape"):
        weighted_mean(losses, torch.ones(3))
