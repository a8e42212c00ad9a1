import pytest
import torch

from alprd.model.charset import NUM_CLASSES
from alprd.model.dsnet import DSNet, NUM_OUTPUTS, STRIDE
from alprd.model.rsnet import RSNet, TIME_STEPS


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("h,w", [(512, 512), (384, 640), (256, 256)])
def test_dsnet_output_grid_follows_input(h, w):
    out = DSNet().eval()(torch.zeros(2, 3, h, w))
    assert out.shape == (2, NUM_OUTPUTS, h // STRIDE, w // STRIDE)
    scores = out[:, :4]
    assert torch.all((scores >= 0) & (scores <= 1))


def test_rsnet_time_steps_and_classes():
    out = RSNet().eval()(torch.zeros(3, 3, 48, 144))
    assert out.shape == (3, TIME_STEPS, NUM_CLASSES)
    # an 8-char plate with repeats needs at most 15 CTC steps
    assert TIME_STEPS >= 2 * 8 - 1


def test_nets_are_lightweight():
    # the paper quotes 3.4M parameters for the cascade; we stay well under
    assert 50_000 < n_params(DSNet()) < 1_500_000
    assert 50_000 < n_params(RSNet()) < 1_500_000


def test_forward_logits_matches_forward():
    net = DSNet().eval()
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        a, b = net(x), net.forward_logits(x)
    assert torch.allclose(a[:, :4], torch.sigmoid(b[:, :4]))
    assert torch.allclose(a[:, 4:], b[:, 4:])
