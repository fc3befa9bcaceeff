"""The lab's network and its Keras-like summary."""

import math

import pytest
import torch

from instrumentid.errors import ParameterError
from instrumentid.model import (
    ACTIVATIONS,
    LabNet,
    model_summary,
    stack_parameters,
    stacked_backward,
    stacked_forward,
    stacked_shapes,
    unstack_parameters,
)


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
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
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


def test_activations_are_the_settings_ones():
    from instrumentid.settings import DEFAULT_TRAINING, TrainingSettings

    assert sorted(ACTIVATIONS) == sorted(TrainingSettings.ACTIVATIONS)
    net = LabNet(12, 3)
    assert net.hidden_units == DEFAULT_TRAINING.hidden_units and net.activation_name == DEFAULT_TRAINING.activation


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_forward_and_backward_match_autograd(name):
    act = ACTIVATIONS[name]
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(1), requires_grad=True)
    out = act.module()(x)
    grad = torch.randn(7, 5, generator=torch.Generator().manual_seed(2))
    out.backward(grad)
    in_place = act.forward_(x.detach().clone())
    torch.testing.assert_close(in_place, out.detach())
    torch.testing.assert_close(act.backward(grad, in_place), x.grad)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_stacked_networks_are_labnets(name):
    """The stacked layout of the training loop computes what LabNet computes, forward and backward."""
    gen = torch.Generator().manual_seed(0)
    nets = [LabNet(6, 3, hidden_units=5, activation=name) for _ in range(2)]
    for net in nets:
        net.reset_parameters(generator=gen)
        torch.nn.init.uniform_(net.hidden.bias, -0.5, 0.5, generator=gen)
        torch.nn.init.uniform_(net.output.bias, -0.5, 0.5, generator=gen)
    params = [torch.empty(s) for s in stacked_shapes(2, nets[0])]
    with torch.no_grad():
        stack_parameters(nets, params)
    x = torch.randn(4, 6, generator=gen)
    act = ACTIVATIONS[name]
    _, logits_t = stacked_forward(params, x, act)
    x1 = torch.cat([x, torch.ones(4, 1)], dim=1).expand(2, 4, 7).contiguous()
    h, logits_t1 = stacked_forward(params, x1, act)
    for r, net in enumerate(nets):
        expected = net(x)
        torch.testing.assert_close(logits_t[r].T, expected)
        torch.testing.assert_close(logits_t1[r].T, expected)
    # backward: gradients of sum(logits * g) equal autograd's
    g = torch.randn(2, 3, 4, generator=gen)
    grads = [torch.empty(s) for s in stacked_shapes(2, nets[0])]
    stacked_backward(params, grads, x1.transpose(1, 2), h, g, act)
    for r, net in enumerate(nets):
        net.zero_grad()
        (net(x) * g[r].T).sum().backward()
        torch.testing.assert_close(grads[0][r, :-1], net.hidden.weight.grad.T)
        torch.testing.assert_close(grads[0][r, -1], net.hidden.bias.grad)
        torch.testing.assert_close(grads[1][r], net.output.weight.grad)
        torch.testing.assert_close(grads[2][r, :, 0], net.output.bias.grad)
    # and back into the networks
    copies = [LabNet(6, 3, hidden_units=5, activation=name) for _ in range(2)]
    with torch.no_grad():
        unstack_parameters(params, copies)
    for a, b in zip(nets, copies, strict=True):
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
            assert torch.equal(pa, pb)


def test_parameter_shapes_are_those_of_the_network():
    from instrumentid.model import LabNet

    net = LabNet(120, 10, hidden_units=256)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert LabNet.parameter_shapes(120, 10, hidden_units=256) == shapes


# ----------------------------------------------------------------------------------------------- merged ensembles
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_merged_nets_compute_the_mean_of_the_members_logits(activation):
    from instrumentid.model import merge_nets

    nets = []
    for seed in range(3):
        net = LabNet(7, 4, hidden_units=5, activation=activation)
        net.reset_parameters(generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            net.hidden.bias.uniform_(-1, 1, generator=torch.Generator().manual_seed(10 + seed))
            net.output.bias.uniform_(-1, 1, generator=torch.Generator().manual_seed(20 + seed))
        nets.append(net)
    merged = merge_nets(nets)
    assert isinstance(merged, LabNet) and merged.hidden_units == 15 and merged.activation_name == activation
    x = torch.randn(11, 7, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = torch.stack([net(x) for net in nets]).mean(dim=0)
        assert torch.allclose(merged(x), expected, atol=1e-6)
    assert merge_nets(nets[:1])(x).equal(nets[0](x))  # one member is that network


@pytest.mark.parametrize("nets, message", [
    ([], "at least one network"),
    ([LabNet(7, 4), LabNet(8, 4)], "cannot merge a 8-feature"),
    ([LabNet(7, 4, activation="relu"), LabNet(7, 4, activation="sigmoid")], "sigmoid network with a 7-feature"),
])
def test_merge_nets_refuses_networks_that_differ(nets, message):
    from instrumentid.model import merge_nets

    with pytest.raises(ValueError, match=message):
        merge_nets(nets)


# ----------------------------------------------------------------------------------------------- branches
def test_branch_net_averages_the_branches_probabilities():
    from instrumentid.model import BranchNet

    nets = [LabNet(w, 4, hidden_units=6, activation="relu") for w in (3, 5)]
    for seed, net in enumerate(nets):
        net.reset_parameters(generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            net.output.bias.uniform_(-2, 2, generator=torch.Generator().manual_seed(10 + seed))
    branch = BranchNet(nets)
    assert (branch.n_features, branch.n_classes, branch.hidden_units, branch.widths) == (8, 4, 6, (3, 5))
    x = torch.randn(9, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = (torch.softmax(nets[0](x[:, :3]), 1) + torch.softmax(nets[1](x[:, 3:]), 1)) / 2
        got = branch(x)
    assert torch.allclose(torch.softmax(got, 1), want, atol=1e-6)
    assert torch.allclose(torch.exp(got), want, atol=1e-6)  # the logits are log-probabilities already
    assert set(BranchNet.parameter_shapes((3, 5), 4, hidden_units=6).items()) == \
        {(k, tuple(v.shape)) for k, v in branch.state_dict().items()}
    summary = model_summary(branch)
    assert "hidden_2 (Dense, relu)" in summary and "branch 2: features 3-7" in summary
    assert f"Total params: {sum(p.numel() for p in branch.parameters()):,}" in summary


@pytest.mark.parametrize("nets, message", [
    ([LabNet(3, 4)], "at least 2 networks"),
    ([LabNet(3, 4), LabNet(5, 3)], "same classes"),
    ([LabNet(3, 4, hidden_units=5), LabNet(5, 4, hidden_units=6)], "hidden width"),
    ([LabNet(3, 4, activation="relu"), LabNet(5, 4)], "activation"),
])
def test_branch_net_refuses_networks_that_do_not_fit(nets, message):
    from instrumentid.model import BranchNet

    with pytest.raises(ValueError, match=message):
        BranchNet(nets)
