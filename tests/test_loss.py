"""The loss reproduces the reference training loss on the published dim-8 outputs."""
import pytest
import torch
from conftest import reference_file

from rainstream.training import NeRDRainLoss
from rainstream.training.losses import charbonnier, edge_charbonnier, fft_l1, laplacian_edges
from rainstream.training.pyramid import gaussian_pyramid

@pytest.fixture(scope="module")
def reference():
    return torch.load(reference_file("equivalence_dim8.pt"), weights_only=True)


def test_pyramid_matches_kornia_reference(reference):
    pyramid = gaussian_pyramid(reference["target"], 3)
    assert len(pyramid) == 3
    for ours, theirs in zip(pyramid, reference["target_pyramid"]):
        assert ours.shape == theirs.shape
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_loss_terms_match_reference(reference):
    terms = NeRDRainLoss()(reference["outputs"], reference["target"])
    assert set(terms) == {"total", "char", "fft", "edge", "inr_l1"}
    for name, expected in reference["loss"].items():
        assert terms[name].item() == pytest.approx(expected.item(), rel=1e-5), name


def test_total_is_the_weighted_sum(reference):
    loss = NeRDRainLoss(fft_weight=0.02, edge_weight=0.0, inr_weight=1.0)
    t = loss(reference["outputs"], reference["target"])
    torch.testing.assert_close(t["total"], t["char"] + 0.02 * t["fft"] + t["inr_l1"])


def test_terms_vanish_on_a_perfect_prediction():
    target = torch.rand(1, 3, 32, 32)
    pyramid = gaussian_pyramid(target, 3)
    outputs = [pyramid[0], pyramid[1], pyramid[2], pyramid[1], pyramid[1], pyramid[2], pyramid[2]]
    terms = NeRDRainLoss()(outputs, target)
    assert terms["fft"].item() == 0 and terms["inr_l1"].item() == 0
    # Charbonnier of a zero error is eps (1e-3) per scale.
    assert terms["char"].item() == pytest.approx(3e-3)
    assert terms["edge"].item() == pytest.approx(3e-3)


def test_plain_functions():
    x, y = torch.zeros(1, 3, 16, 16), torch.full((1, 3, 16, 16), 0.5)
    assert charbonnier(x, y).item() == pytest.approx((0.25 + 1e-6) ** 0.5)
    # A constant image has no edges away from the border; the FFT of a constant is one DC bin.
    assert laplacian_edges(y)[..., 4:-4, 4:-4].abs().max().item() < 1e-6
    assert edge_charbonnier(y, y).item() == pytest.approx(1e-3)
    assert edge_charbonnier(x, torch.rand(1, 3, 16, 16)).item() > 1e-2
    assert fft_l1(x, y).item() == pytest.approx(0.5 * 64 / 64)


def test_loss_is_differentiable():
    target = torch.rand(2, 3, 32, 32)
    outputs = [torch.rand(2, 3, 32 // s, 32 // s, requires_grad=True) for s in (1, 2, 4, 2, 2, 4, 4)]
    NeRDRainLoss()(outputs, target)["total"].backward()
    assert all(o.grad is not None for i, o in enumerate(outputs) if i not in (4, 6))
