"""The lab's network, defined once: features -> one hidden layer -> class logits, and its Keras-like summary.

The lab builds ``Dense(256, activation="sigmoid")`` then ``Dense(10, activation="softmax")`` in Keras. :class:`LabNet`
is the same network in PyTorch; its ``forward`` returns logits, and the softmax is applied where probabilities are
needed (``predict_proba``, the ONNX export), so that training can use the numerically stable cross-entropy on logits.

The fast training loop (:mod:`instrumentid.training`) trains several copies of the network side by side, their
weights stacked along a leading axis. This module holds that layout too (:func:`stacked_shapes`,
:func:`stack_parameters`, :func:`unstack_parameters`) with the network's forward and backward passes in it
(:func:`stacked_forward`, :func:`stacked_backward`), and every activation with its in-place forward and its gradient
(:data:`ACTIVATIONS`), so that the network's arithmetic is written in this one module.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from instrumentid.architecture import tensor_shapes
from instrumentid.errors import ParameterError
from instrumentid.settings import DEFAULT_TRAINING

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "BranchNet",
    "LabNet",
    "merge_nets",
    "model_summary",
    "relu_backward",
    "sigmoid_backward",
    "stack_parameters",
    "stacked_backward",
    "stacked_forward",
    "stacked_shapes",
    "tanh_backward",
    "unstack_parameters",
]


# ----------------------------------------------------------------------------------------------- activations
def sigmoid_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Gradient through a sigmoid from its output ``out``: ``grad * out * (1 - out)`` (one fused kernel)."""
    return torch.ops.aten.sigmoid_backward(grad, out)


def tanh_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Gradient through a tanh from its output ``out``: ``grad * (1 - out ** 2)`` (one fused kernel)."""
    return torch.ops.aten.tanh_backward(grad, out)


def relu_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Gradient through a ReLU from its output ``out``: ``grad * (out > 0)`` (one fused kernel)."""
    return torch.ops.aten.threshold_backward(grad, out, 0)


class Activation(NamedTuple):
    """A hidden-layer activation, in the three forms the package uses.

    Attributes
    ----------
    name : str
        ``"sigmoid"``, ``"tanh"`` or ``"relu"``.
    module : type of torch.nn.Module
        The layer :class:`LabNet` uses (``torch.nn.Sigmoid``...).
    forward_ : callable
        ``forward_(x)`` applies the activation to ``x`` in place and returns it.
    backward : callable
        ``backward(grad, out)``: the gradient with respect to the activation's input, from the gradient with respect
        to its output and the output itself.
    """

    name: str
    module: type[torch.nn.Module]
    forward_: Callable[[torch.Tensor], torch.Tensor]
    backward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


#: Hidden-layer activations, by name.
ACTIVATIONS = {
    "sigmoid": Activation("sigmoid", torch.nn.Sigmoid, torch.Tensor.sigmoid_, sigmoid_backward),
    "tanh": Activation("tanh", torch.nn.Tanh, torch.Tensor.tanh_, tanh_backward),
    "relu": Activation("relu", torch.nn.ReLU, torch.Tensor.relu_, relu_backward),
}


def _activation(name) -> Activation:
    if name not in ACTIVATIONS:
        raise ParameterError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


def _check_size(value, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


# ----------------------------------------------------------------------------------------------- the network
class LabNet(torch.nn.Module):
    """``n_features -> hidden_units (activation) -> n_classes`` logits, the lab's network.

    Parameters
    ----------
    n_features : int
        Width of the input feature vectors (120 in the lab).
    n_classes : int >= 2
        Number of classes (10 in the lab).
    hidden_units : int
        Width of the hidden layer (default :data:`~instrumentid.settings.DEFAULT_TRAINING`'s, the lab's 256).
    activation : {"sigmoid", "tanh", "relu"}
        Hidden-layer activation (default :data:`~instrumentid.settings.DEFAULT_TRAINING`'s, the lab's sigmoid).

    Notes
    -----
    Weights are initialised as Keras does (Glorot-uniform weights, zero biases); call :meth:`reset_parameters`
    with a seeded ``torch.Generator`` for a reproducible start.
    """

    def __init__(self, n_features: int, n_classes: int, *, hidden_units: int = DEFAULT_TRAINING.hidden_units,
                 activation: str = DEFAULT_TRAINING.activation):
        super().__init__()
        _check_size(n_features, "n_features", minimum=1)
        _check_size(n_classes, "n_classes", minimum=2)
        _check_size(hidden_units, "hidden_units", minimum=1)
        self.activation_name = _activation(activation).name
        self.hidden = torch.nn.Linear(n_features, hidden_units)
        self.activation = ACTIVATIONS[activation].module()
        self.output = torch.nn.Linear(hidden_units, n_classes)
        self.reset_parameters()

    @property
    def n_features(self) -> int:
        """Width of the input rows."""
        return self.hidden.in_features

    @property
    def hidden_units(self) -> int:
        """Width of the hidden layer."""
        return self.hidden.out_features

    @property
    def n_classes(self) -> int:
        """Number of outputs (classes)."""
        return self.output.out_features

    @staticmethod
    def parameter_shapes(n_features: int, n_classes: int, *, hidden_units: int) -> dict:
        """The names and shapes of the network's tensors, without building it (nothing is allocated).

        Returns
        -------
        dict of str -> tuple of int
            ``hidden.weight (hidden_units, n_features)``, ``hidden.bias (hidden_units,)``,
            ``output.weight (n_classes, hidden_units)``, ``output.bias (n_classes,)`` (``state_dict`` names).
        """
        return tensor_shapes(n_features, n_classes, hidden_units=hidden_units)

    def reset_parameters(self, *, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights and zero biases (the Keras defaults of the lab), drawn from ``generator``."""
        with torch.no_grad():
            for layer in (self.hidden, self.output):
                torch.nn.init.xavier_uniform_(layer.weight, generator=generator)
                layer.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits.

        Parameters
        ----------
        x : torch.Tensor [shape=(n, n_features), dtype=float32]

        Returns
        -------
        torch.Tensor [shape=(n, n_classes)]
            Unnormalised scores; ``softmax(dim=1)`` gives class probabilities.
        """
        return self.output(self.activation(self.hidden(x)))


def merge_nets(nets) -> LabNet:
    """One network whose logits are the mean of the logits of ``nets`` (an ensemble as a single, wider LabNet).

    The hidden layers are placed side by side and the output layer averages them: ``K`` networks of ``H`` hidden
    units become one of ``K * H`` units, whose output weights are the members' divided by ``K`` and whose output bias
    is the members' mean. The result is an ordinary :class:`LabNet` (saved, loaded, exported to ONNX like any other).

    Parameters
    ----------
    nets : sequence of LabNet
        At least one network, all with the same features, classes and activation.

    Returns
    -------
    LabNet
        In eval mode; ``merged(x) == mean(net(x) for net in nets)`` up to float32 rounding.

    Raises
    ------
    ValueError
        No network, or networks of different shapes or activations.
    """
    nets = list(nets)
    if not nets:
        raise ValueError("merge_nets needs at least one network")
    first = nets[0]
    for net in nets[1:]:
        if (net.n_features, net.n_classes, net.activation_name) != (first.n_features, first.n_classes,
                                                                    first.activation_name):
            raise ValueError(f"cannot merge a {net.n_features}-feature, {net.n_classes}-class {net.activation_name} "
                             f"network with a {first.n_features}-feature, {first.n_classes}-class "
                             f"{first.activation_name} one")
    merged = LabNet(first.n_features, first.n_classes, hidden_units=sum(n.hidden_units for n in nets),
                    activation=first.activation_name)
    with torch.no_grad():
        merged.hidden.weight.copy_(torch.cat([n.hidden.weight for n in nets], dim=0))
        merged.hidden.bias.copy_(torch.cat([n.hidden.bias for n in nets]))
        merged.output.weight.copy_(torch.cat([n.output.weight for n in nets], dim=1) / len(nets))
        merged.output.bias.copy_(torch.stack([n.output.bias for n in nets]).mean(dim=0))
    return merged.eval()


class BranchNet(torch.nn.Module):
    """Networks on consecutive blocks of the features, whose class probabilities are averaged: the shipped model.

    Branch ``i`` is a :class:`LabNet` on columns ``[sum(widths[:i]), sum(widths[:i + 1]))`` (the shipped model: the
    120 descriptors, then musicnn's 1506 pools, :data:`~instrumentid.settings.SHIPPED_FEATURES`). The output is the
    log of the branches' mean softmax: logits whose softmax is that mean, so the training code's cross-entropy, the
    temperature of calibration and the ONNX export treat it like one network's logits.

    Parameters
    ----------
    nets : sequence of LabNet
        At least two, one per block, with the same classes and hidden width; ``nets[i].n_features`` is block ``i``'s
        width.

    Raises
    ------
    ValueError
        Fewer than two networks, or networks with other classes, widths or activations.
    """

    def __init__(self, nets):
        super().__init__()
        nets = list(nets)
        if len(nets) < 2:
            raise ValueError(f"a BranchNet needs at least 2 networks, got {len(nets)}")
        first = nets[0]
        for net in nets[1:]:
            if (net.n_classes, net.hidden_units, net.activation_name) != (first.n_classes, first.hidden_units,
                                                                          first.activation_name):
                raise ValueError("the branches of a BranchNet need the same classes, hidden width and activation")
        self.nets = torch.nn.ModuleList(nets)
        self.widths = tuple(net.n_features for net in nets)
        self.activation_name = first.activation_name

    @classmethod
    def empty(cls, widths, n_classes: int, *, hidden_units: int, activation: str) -> BranchNet:
        """A BranchNet of fresh LabNets on blocks of ``widths`` (to load a ``state_dict`` into)."""
        return cls([LabNet(w, n_classes, hidden_units=hidden_units, activation=activation) for w in widths])

    @property
    def n_features(self) -> int:
        """Width of the input rows: the blocks' widths summed."""
        return sum(self.widths)

    @property
    def hidden_units(self) -> int:
        """Width of each branch's hidden layer."""
        return self.nets[0].hidden_units

    @property
    def n_classes(self) -> int:
        """Number of outputs (classes)."""
        return self.nets[0].n_classes

    @staticmethod
    def parameter_shapes(widths, n_classes: int, *, hidden_units: int) -> dict:
        """Names and shapes of the tensors (``nets.<i>.`` then :meth:`LabNet.parameter_shapes`), nothing allocated."""
        return tensor_shapes(sum(widths), n_classes, hidden_units=hidden_units, branches=list(widths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``log(mean_i softmax(net_i(block_i)))`` of rows ``x`` [shape=(n, n_features), float32]: (n, n_classes).

        These logits are log-probabilities already: their softmax is the branches' mean probability.
        """
        parts = torch.split(x, list(self.widths), dim=1)
        logp = torch.stack([torch.log_softmax(net(p), dim=1) for net, p in zip(self.nets, parts, strict=True)])
        return torch.logsumexp(logp, dim=0) - math.log(len(self.nets))


# ----------------------------------------------------------------------------------------------- stacked copies
# R copies of the network side by side, as the training loop runs them: ``W1b (R, D + 1, H)`` is the hidden layer's
# weights transposed from torch's layout with its bias as the last row (rows that carry a constant 1 as their last
# feature compute weights and bias in one matrix product, forward and backward), ``W2 (R, C, H)`` and ``b2 (R, C, 1)``
# the output layer. Logits are computed transposed, ``(R, C, n)``, because softmax over a leading axis is vectorised
# across rows while softmax over a short last axis (C = 10) is several times slower on a CPU.
def stacked_shapes(n_nets: int, net: LabNet) -> tuple:
    """Shapes of the stacked parameters of ``n_nets`` networks like ``net``: ``W1b, W2, b2``.

    Returns
    -------
    tuple of tuple of int
        ``((R, D + 1, H), (R, C, H), (R, C, 1))`` with ``R = n_nets``, ``D, H, C`` the net's features, hidden units
        and classes.
    """
    D, H, C = net.n_features, net.hidden_units, net.n_classes
    return (n_nets, D + 1, H), (n_nets, C, H), (n_nets, C, 1)


def stack_parameters(nets, params) -> None:
    """Copy the weights of ``nets`` into the stacked tensors ``params = (W1b, W2, b2)`` (see :func:`stacked_shapes`)."""
    W1b, W2, b2 = params
    for r, n in enumerate(nets):
        W1b[r, :-1].copy_(n.hidden.weight.T)
        W1b[r, -1].copy_(n.hidden.bias)
        W2[r].copy_(n.output.weight)
        b2[r, :, 0].copy_(n.output.bias)


def unstack_parameters(params, nets) -> None:
    """Copy stacked weights ``params = (W1b, W2, b2)`` back into the ``nets`` (inverse of :func:`stack_parameters`)."""
    W1b, W2, b2 = params
    for r, n in enumerate(nets):
        n.hidden.weight.copy_(W1b[r, :-1].T)
        n.hidden.bias.copy_(W1b[r, -1])
        n.output.weight.copy_(W2[r])
        n.output.bias.copy_(b2[r, :, 0])


def stacked_forward(params, x: torch.Tensor, activation: Activation, *, hidden_out: torch.Tensor | None = None,
                    logits_out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The forward pass of stacked networks: :meth:`LabNet.forward` in the stacked layout.

    Parameters
    ----------
    params : (W1b, W2, b2)
        Stacked parameters (see :func:`stacked_shapes`).
    x : torch.Tensor [shape=(R, n, D + 1) or (n, D), dtype=float32]
        Either one batch per network whose rows end with a constant 1 (the bias is then part of the one matrix
        product), or the same rows for every network, without the 1.
    activation : Activation
        The hidden layer's (an entry of :data:`ACTIVATIONS`).
    hidden_out, logits_out : torch.Tensor, optional
        Preallocated outputs ``(R, n, H)`` and ``(R, C, n)`` (only with the first form of ``x``).

    Returns
    -------
    h : torch.Tensor [shape=(R, n, H)]
        The hidden layer's output (after the activation).
    logits_t : torch.Tensor [shape=(R, C, n)]
        Transposed logits of each network.
    """
    W1b, W2, b2 = params
    if x.ndim == 3:
        h = torch.bmm(x, W1b, out=hidden_out)
    else:
        h = torch.matmul(x, W1b[:, :-1]).add_(W1b[:, -1:])
    h = activation.forward_(h)
    return h, torch.baddbmm(b2, W2, h.transpose(1, 2), out=logits_out)


def stacked_backward(params, grads, x_t: torch.Tensor, h: torch.Tensor, dlogits_t: torch.Tensor,
                     activation: Activation, *, dh_out: torch.Tensor | None = None) -> None:
    """The backward pass of stacked networks: write the gradients of every parameter into ``grads``.

    Parameters
    ----------
    params, grads : (W1b, W2, b2)
        Stacked parameters and the tensors (same shapes) that receive their gradients.
    x_t : torch.Tensor [shape=(R, D + 1, n)]
        The batch of :func:`stacked_forward`'s first form, transposed (a view).
    h : torch.Tensor [shape=(R, n, H)]
        :func:`stacked_forward`'s hidden output.
    dlogits_t : torch.Tensor [shape=(R, C, n)]
        Gradient of the loss with respect to the transposed logits.
    activation : Activation
    dh_out : torch.Tensor [shape=(R, n, H)], optional
        Preallocated buffer for the hidden layer's gradient.
    """
    _, W2, _ = params
    gW1b, gW2, gb2 = grads
    torch.bmm(dlogits_t, h, out=gW2)
    torch.sum(dlogits_t, 2, keepdim=True, out=gb2)
    dh = activation.backward(torch.bmm(dlogits_t.transpose(1, 2), W2, out=dh_out), h)
    torch.bmm(x_t, dh, out=gW1b)


# ----------------------------------------------------------------------------------------------- summary
def model_summary(model: LabNet | BranchNet) -> str:
    """The model as a Keras-like table: layer, output shape, parameter count; then total / trainable counts.

    For 120 features and 10 classes the hidden layer has 30,976 parameters, the output layer 2,570, 33,546 in all.
    A :class:`BranchNet` lists each branch's two layers (``hidden_1``, ``output_1``, ...) and which features each
    branch reads.
    """
    nets = list(model.nets) if isinstance(model, BranchNet) else [model]
    rows = []
    for i, net in enumerate(nets, start=1):
        tag = f"_{i}" if len(nets) > 1 else ""
        rows += [(f"hidden{tag} (Dense, {net.activation_name})", f"(None, {net.hidden_units})", net.hidden),
                 (f"output{tag} (Dense, softmax)", f"(None, {net.n_classes})", net.output)]
    width = 65
    lines = [
        f'Model: "{type(model).__name__}"',
        "_" * width,
        f"{'Layer (type)':<29}{'Output Shape':<21}{'Param #':>15}",
        "=" * width,
    ]
    for i, (name, shape, layer) in enumerate(rows):
        count = sum(p.numel() for p in layer.parameters())
        lines.append(f"{name:<29}{shape:<21}{count:>15,}")
        lines.append("=" * width if i == len(rows) - 1 else "_" * width)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines += [
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        "_" * width,
    ]
    if len(nets) > 1:
        start = 0
        for i, net in enumerate(nets, start=1):
            lines.append(f"branch {i}: features {start}-{start + net.n_features - 1}")
            start += net.n_features
        lines.append("output: log of the branches' mean probabilities")
    return "\n".join(lines)
