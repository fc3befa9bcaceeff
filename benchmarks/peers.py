"""The peers instrumentid is timed against: the lab's fit written the usual way in other stacks.

Each peer trains the lab's network (120 -> 256 sigmoid -> 10 softmax, softmax cross-entropy, Adam, batch 128, a new
shuffle every epoch) on standardized float32 data and returns its final test accuracy:

- ``keras``: Keras 3 on TensorFlow, the lab's exact code: ``Sequential([Input, Dense(256, "sigmoid"),
  Dense(n_classes, "softmax")])``, ``Adam(lr)``, ``fit(batch_size=128, epochs, validation_data=..., shuffle=True)``.
- ``pytorch``: a plain PyTorch loop (``nn.Sequential``, ``DataLoader(TensorDataset, shuffle=True, batch_size=128)``,
  autograd, ``torch.optim.Adam``, test evaluation every epoch): ``fit_speed.plain_torch_fit``.
- ``sklearn``: ``MLPClassifier(hidden_layer_sizes=(256,), activation="logistic", solver="adam", batch_size=128,
  max_iter=epochs, shuffle=True)`` (it has no per-epoch test evaluation; the test set is scored once at the end).

A sweep runs the rates one after another, a fresh model per rate, as a student would. The peers come from the
optional ``bench`` extra (``pip install -e .[bench]``) and are never needed by instrumentid itself.

:func:`run_peer` times a peer in this process; ``benchmarks/run.py`` runs every peer in a process of its own
(``python benchmarks/peers.py NAME DATA.npz ...``, JSON on stdout), so that TensorFlow's and PyTorch's thread pools
never share a process and every peer starts from the same state.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_speed import plain_torch_fit

from instrumentid.settings import DEFAULT_TRAINING as T

#: Peer name -> label in the tables.
LABELS = {"keras": "Keras 3 / TensorFlow", "pytorch": "plain PyTorch loop", "sklearn": "scikit-learn MLP"}
#: Peer name -> the modules it needs.
REQUIRES = {"keras": ("tensorflow", "keras"), "pytorch": ("torch",), "sklearn": ("sklearn",)}


def installed(name: str) -> bool:
    """True if every module peer ``name`` needs can be imported (checked without importing it)."""
    return all(importlib.util.find_spec(module) is not None for module in REQUIRES[name])


def versions(name: str) -> dict:
    """Versions of the modules of peer ``name`` (imports them)."""
    out = {}
    for module in REQUIRES[name]:
        out[module] = getattr(importlib.import_module(module), "__version__", "?")
    return out


def keras_fit(data, *, epochs=T.epochs, lr=T.lr, batch_size=T.batch_size, seed=T.seed) -> float:
    """The lab's Keras code; final test accuracy (the ``val_accuracy`` of the last epoch)."""
    import keras

    X, y, Xt, yt = data
    n_classes = int(max(y.max(), yt.max())) + 1
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(shape=(X.shape[1],)),
        keras.layers.Dense(T.hidden_units, activation="sigmoid"),
        keras.layers.Dense(n_classes, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(X, y, batch_size=batch_size, epochs=epochs, validation_data=(Xt, yt), shuffle=True,
                        verbose=0)
    return float(history.history["val_accuracy"][-1])


def pytorch_fit(data, *, epochs=T.epochs, lr=T.lr, batch_size=T.batch_size, seed=T.seed) -> float:
    """The plain PyTorch loop of ``fit_speed.plain_torch_fit``; final test accuracy."""
    return plain_torch_fit(data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)


def sklearn_fit(data, *, epochs=T.epochs, lr=T.lr, batch_size=T.batch_size, seed=T.seed) -> float:
    """scikit-learn's MLPClassifier with the lab's settings; test accuracy after the last epoch."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y, Xt, yt = data
    clf = MLPClassifier(hidden_layer_sizes=(T.hidden_units,), activation="logistic", solver="adam",
                        learning_rate_init=lr, batch_size=batch_size, max_iter=epochs, shuffle=True, alpha=0.0, tol=0.0,
                        n_iter_no_change=epochs + 1, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    return float(clf.score(Xt, yt))


FITS = {"keras": keras_fit, "pytorch": pytorch_fit, "sklearn": sklearn_fit}


def _prepare(name: str, threads: int) -> None:
    """Thread settings for ``threads`` cores, and a warm import (import time is not counted)."""
    if name == "pytorch":
        import torch

        torch.set_num_threads(threads)
    elif name == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        import keras  # noqa: F401
    else:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
        import sklearn.neural_network  # noqa: F401


def run_peer(name: str, data, *, rates=(T.lr,), epochs=T.epochs, batch_size=T.batch_size, repeat=1, seed=T.seed,
             threads=2) -> dict:
    """Time peer ``name`` training a fresh model per rate, the rates one after another.

    Parameters
    ----------
    data : tuple of np.ndarray
        ``(X_train (n, d) float32, y_train (n,) int, X_test (m, d) float32, y_test (m,) int)``, standardized.
    rates : sequence of float
        Adam learning rates; one fresh model each.
    repeat : int
        The whole run is repeated this many times; the fastest is kept.

    Returns
    -------
    dict
        ``seconds`` (best wall time of all rates, s), ``all_seconds`` (every repeat), ``accuracy`` (rate -> final
        test accuracy of the last repeat), ``versions``.
    """
    if name not in FITS:
        raise ValueError(f"unknown peer {name!r}, expected one of {sorted(FITS)}")
    _prepare(name, threads)
    fit = FITS[name]
    times, accuracy = [], {}
    for _ in range(repeat):
        start = time.perf_counter()
        accuracy = {float(r): fit(data, epochs=epochs, lr=float(r), batch_size=batch_size, seed=seed) for r in rates}
        times.append(time.perf_counter() - start)
    return {"seconds": min(times), "all_seconds": times, "accuracy": accuracy, "versions": versions(name)}


def save_data(data, path) -> Path:
    """Write ``(X_train, y_train, X_test, y_test)`` to an ``.npz`` file for :func:`main`."""
    path = Path(path)
    np.savez(path, **dict(zip(("X_train", "y_train", "X_test", "y_test"), data, strict=True)))
    return path


def load_data(path) -> tuple:
    with np.load(path, allow_pickle=False) as z:
        return tuple(z[k] for k in ("X_train", "y_train", "X_test", "y_test"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Time one peer; prints a JSON object on stdout.")
    parser.add_argument("peer", choices=sorted(FITS))
    parser.add_argument("data", type=Path, help=".npz with X_train, y_train, X_test, y_test (standardized float32)")
    parser.add_argument("--rates", type=float, nargs="+", default=[T.lr])
    parser.add_argument("--epochs", type=int, default=T.epochs)
    parser.add_argument("--batch-size", type=int, default=T.batch_size)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=T.seed)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    result = run_peer(args.peer, load_data(args.data), rates=args.rates, epochs=args.epochs,
                      batch_size=args.batch_size, repeat=args.repeat, seed=args.seed, threads=args.threads)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
