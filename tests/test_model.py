"""The lab's network and its Keras-like summary."""

import math

import pytest
import torch

from instrumentid.errors import ParameterError
from instrumentid.model import LabNet, model_summary


def test_lab_summary_counts():
    text = model_summary(LabNet(120, 10))
    lines = text.splitlines()
    hidden = next(line for line in lines if line.startswith("hidden"))
    output = next(line for line in lines if line.startswith("output"))
    assert "(None, 256)" in hidden and hidden.split()[-1] == "30,976"
    assert "(None, 10)" in output and output.split()[-1] == "2,570"
    assert "Total params: 33,546" in lines
    assert "Trainable params: 33,546" in lines
    assert "Non-trainable params: 0" in lines


@pytest.mark.parametrize("n_features, n_classes, hidden_units", [(120, 10, 256), (20, 3, 8), (5, 2, 1)])
def test_summary_matches_parameters(n_features, n_classes, hidden_units):
    net = LabNet(n_features, n_classes, hidden_units=hidden_units)
    total = (n_features + 1) * hidden_units + (hidden_units + 1) * n_classes
    assert sum(p.numel() for p in net.parameters()) == total
    assert f"Total params: {total:,}" in model_summary(net)


def test_frozen_parameters_are_not_trainable():
    net = LabNet(120, 10)
    net.output.requires_grad_(False)
    text = model_summary(net)
    assert "Trainable params: 30,976" in text and "Non-trainable params: 2,570" in text


@pytest.mark.parametrize("activation, module", [("sigmoid", torch.nn.Sigmoid), ("tanh", torch.nn.Tanh),
                                                ("relu", torch.nn.ReLU)])
def test_forward_returns_logits(activation, module):
    net = LabNet(12, 4, hidden_units=8, activation=activation)
    assert isinstance(net.activation, module)
    x = torch.randn(5, 12, generator=torch.Generator().manual_seed(0))
    logits = net(x)
    assert logits.shape == (5, 4)
    expected = net.output(module()(net.hidden(x)))
    torch.testing.assert_close(logits, expected)
    assert f"(Dense, {activation})" in model_summary(net)


def test_seeded_glorot_initialisation():
    a, b, c = LabNet(120, 10), LabNet(120, 10), LabNet(120, 10)
    a.reset_parameters(generator=torch.Generator().manual_seed(7))
    b.reset_parameters(generator=torch.Generator().manual_seed(7))
    c.reset_parameters(generator=torch.Generator().manual_seed(8))
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb)
        if pa.ndim == 2:
            assert not torch.equal(pa, pc)
    for layer in (a.hidden, a.output):
        bound = math.sqrt(6 / (layer.in_features + layer.out_features))
        assert layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > 0.9 * bound
        assert torch.count_nonzero(layer.bias) == 0


@pytest.mark.parametrize("args, kwargs, message", [
    ((120, 1), {}, "n_classes must be an integer >= 2, got 1"),
    ((0, 10), {}, "n_features must be an integer >= 1, got 0"),
    ((120, 10), {"hidden_units": 0}, "hidden_units must be an integer >= 1, got 0"),
    ((120.0, 10), {}, "n_features must be an integer >= 1, got 120.0"),
    ((120, 10), {"activation": "softmax"}, "activation must be one of .*'softmax'"),
])
def test_bad_arguments(args, kwargs, message):
    with pytest.raises(ParameterError, match=message):
        LabNet(*args, **kwargs)
