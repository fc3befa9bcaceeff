"""The names and shapes of the lab network's tensors for an architecture, without torch.

The one definition that the torch network (:class:`instrumentid.model.LabNet`, :class:`instrumentid.model.BranchNet`)
and the torch-free loader of saved models (:mod:`instrumentid.inference`) share: what a network of a given
architecture holds, so a saved file can be checked before any of it is used.

>>> tensor_shapes(120, 10, hidden_units=256)
{'hidden.weight': (256, 120), 'hidden.bias': (256,), 'output.weight': (10, 256), 'output.bias': (10,)}
"""

from __future__ import annotations

__all__ = ["tensor_shapes"]


def tensor_shapes(n_features: int, n_classes: int, *, hidden_units: int, branches=None) -> dict:
    """The ``state_dict`` names and shapes of a network, nothing allocated.

    Parameters
    ----------
    n_features, n_classes, hidden_units : int
        Input width, outputs and hidden units (of each branch).
    branches : sequence of int, optional
        A :class:`~instrumentid.model.BranchNet`'s block widths (summing to ``n_features``); None for one network.

    Returns
    -------
    dict of str -> tuple of int
        One network: ``hidden.weight (hidden_units, n_features)``, ``hidden.bias (hidden_units,)``,
        ``output.weight (n_classes, hidden_units)``, ``output.bias (n_classes,)``; a BranchNet: the same for each
        block ``i`` of width ``w``, named ``nets.<i>.hidden.weight (hidden_units, w)``...
    """
    blocks = [("", n_features)] if branches is None else [(f"nets.{i}.", w) for i, w in enumerate(branches)]
    return {f"{prefix}{name}": shape for prefix, width in blocks
            for name, shape in (("hidden.weight", (hidden_units, width)), ("hidden.bias", (hidden_units,)),
                                ("output.weight", (n_classes, hidden_units)), ("output.bias", (n_classes,)))}
