"""The lab's network: features -> one hidden layer -> class logits, and its Keras-like summary.

The lab builds ``Dense(256, activation="sigmoid")`` then ``Dense(10, activation="softmax")`` in Keras. :class:`LabNet`
is the same network in PyTorch; its ``forward`` returns logits, and the softmax is applied where probabilities are
needed (``predict_proba``, the ONNX export), so that training can use the numerically stable cross-entropy on logits.
"""

from __future__ import annotations

import torch

from instrumentid.errors import ParameterError

__all__ = ["ACTIVATIONS", "LabNet", "model_summary"]

#: Hidden-layer activations, by name.
ACTIVATIONS = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}


def _check_size(value, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class LabNet(torch.nn.Module):
    """``n_features -> hidden_units (activation) -> n_classes`` logits, the lab's network.

    Parameters
    ----------
    n_features : int
        Width of the input feature vectors (120 in the lab).
    n_classes : int >= 2
        Number of classes (10 in the lab).
    hidden_units : int
        Width of the hidden layer (256 in the lab).
    activation : {"sigmoid", "tanh", "relu"}
        Hidden-layer activation ("sigmoid" in the lab).

    Notes
    -----
    Weights are initialised as Keras does (Glorot-uniform weights, zero biases); call :meth:`reset_parameters`
    with a seeded ``torch.Generator`` for a reproducible start.
    """

    def __init__(self, n_features: int, n_classes: int, *, hidden_units: int = 256, activation: str = "sigmoid"):
        super().__init__()
        _check_size(n_features, "n_features", minimum=1)
        _check_size(n_classes, "n_classes", minimum=2)
        _check_size(hidden_units, "hidden_units", minimum=1)
        if activation not in ACTIVATIONS:
            raise ParameterError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation_name = activation
        self.hidden = torch.nn.Linear(n_features, hidden_units)
        self.activation = ACTIVATIONS[activation]()
        self.output = torch.nn.Linear(hidden_units, n_classes)
        self.reset_parameters()

    @property
    def n_features(self) -> int:
        return self.hidden.in_features

    @property
    def hidden_units(self) -> int:
        return self.hidden.out_features

    @property
    def n_classes(self) -> int:
        return self.output.out_features

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


def model_summary(model: LabNet) -> str:
    """The model as a Keras-like table: layer, output shape, parameter count; then total / trainable counts.

    For 120 features and 10 classes the hidden layer has 30,976 parameters, the output layer 2,570, 33,546 in all.
    """
    rows = [
        (f"hidden (Dense, {model.activation_name})", f"(None, {model.hidden_units})", model.hidden),
        ("output (Dense, softmax)", f"(None, {model.n_classes})", model.output),
    ]
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
    return "\n".join(lines)
