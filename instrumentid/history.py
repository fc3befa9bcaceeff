"""Per-epoch metrics of training runs, and their files: a history as JSON or CSV, a learning-rate sweep likewise.

A :class:`History` holds, per epoch, the mean training loss and accuracy over the epoch's batches (as Keras reports
them) and the loss and accuracy on the test set after the epoch. A sweep is a ``{rate: History}`` dict, saved with
:func:`save_sweep` and read back with :func:`load_sweep`.

Examples
--------
>>> h = History([1.5, 0.5], [0.25, 0.75], lr=0.01)
>>> format_epoch(h, 1)
'Epoch 2/2 - loss: 0.5000 - accuracy: 0.7500'
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from instrumentid.errors import ParameterError
from instrumentid.util import read_json

__all__ = ["METRICS", "History", "format_epoch", "load_sweep", "save_sweep", "sweep_to_csv"]

#: Columns of a history, in order.
METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


@dataclass
class History:
    """Per-epoch metrics of one training run.

    Attributes
    ----------
    train_loss, train_accuracy : list of float
        Mean cross-entropy (nats) and accuracy (0-1) over the epoch's batches, as Keras reports them.
    test_loss, test_accuracy : list of float
        The same on the test set after the epoch; empty when training had no test set.
    lr : float, optional
        Adam learning rate of the run.
    """

    train_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    lr: float | None = None

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    @property
    def has_test(self) -> bool:
        """True when a test set was scored after every epoch."""
        return len(self.test_loss) > 0

    def to_dict(self) -> dict:
        """The history as a JSON-ready dict: one list per metric, and ``lr``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> History:
        """Rebuild a history from :meth:`to_dict` output; :class:`ParameterError` if it is not one."""
        if not isinstance(data, dict) or any(not isinstance(data.get(k), list) for k in METRICS):
            raise ParameterError(f"a training history needs the lists {', '.join(METRICS)}, got {_brief(data)}")
        n = len(data["train_loss"])
        for key in METRICS:
            if len(data[key]) not in ((0, n) if key.startswith("test") else (n,)):
                raise ParameterError(f"history column {key!r} has {len(data[key])} epochs, expected {n}")
        lr = data.get("lr")
        columns = {k: [float(v) for v in data[k]] for k in METRICS}
        return cls(**columns, lr=None if lr is None else float(lr))

    def to_json(self, path=None) -> str:
        """The history as JSON text; also written to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=1) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, path) -> History:
        """Read a history written by :meth:`to_json`."""
        return cls.from_dict(read_json(path, what="a training history"))

    def to_csv(self, path=None) -> str:
        """The history as CSV (``epoch`` from 1, then one column per metric); also written to ``path`` if given."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(("epoch", *METRICS))
        for i in range(self.epochs):
            writer.writerow((i + 1, *(_cell(getattr(self, k), i) for k in METRICS)))
        if path is not None:
            Path(path).write_text(buf.getvalue())
        return buf.getvalue()


def _cell(values: list, i: int) -> str:
    return repr(values[i]) if i < len(values) else ""


def _brief(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_epoch(history: History, i: int) -> str:
    """One Keras-like line for epoch ``i`` (0-based): ``Epoch 3/10 - loss: ... - accuracy: ... - val_loss: ...``."""
    parts = [f"Epoch {i + 1}/{history.epochs}", f"loss: {history.train_loss[i]:.4f}",
             f"accuracy: {history.train_accuracy[i]:.4f}"]
    if history.has_test:
        parts += [f"val_loss: {history.test_loss[i]:.4f}", f"val_accuracy: {history.test_accuracy[i]:.4f}"]
    return " - ".join(parts)


def save_sweep(histories: dict, path) -> str:
    """Write a sweep (``{rate: History}``) as JSON: ``{"rates": [...], "histories": {"0.001": {...}, ...}}``."""
    data = {"rates": [float(r) for r in histories],
            "histories": {repr(float(r)): h.to_dict() for r, h in histories.items()}}
    text = json.dumps(data, indent=1) + "\n"
    Path(path).write_text(text)
    return text


def load_sweep(path) -> dict:
    """Read a sweep written by :func:`save_sweep` as ``{rate: History}`` in the saved order."""
    data = read_json(path, what="a sweep file")
    if not isinstance(data, dict) or not isinstance(data.get("histories"), dict):
        raise ParameterError(f"{str(path)!r} is not a sweep file (no 'histories' table)")
    try:
        return {float(rate): History.from_dict(h) for rate, h in data["histories"].items()}
    except ValueError as err:
        raise ParameterError(f"{str(path)!r} is not a sweep file: {err}") from None


def sweep_to_csv(histories: dict, path=None) -> str:
    """A sweep as one long CSV table: ``rate, epoch, train_loss, ...``; also written to ``path`` if given."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("rate", "epoch", *METRICS))
    for rate, h in histories.items():
        for i in range(h.epochs):
            writer.writerow((repr(float(rate)), i + 1, *(_cell(getattr(h, k), i) for k in METRICS)))
    if path is not None:
        Path(path).write_text(buf.getvalue())
    return buf.getvalue()
