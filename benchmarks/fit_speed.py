"""Time instrumentid's fit and batched sweep against a plain PyTorch loop, on data of the lab's shape.

    python benchmarks/fit_speed.py [--repeat 3] [--no-reference] [--sweep]

The data are random but shaped and sorted like the UIowa set (66,247 x 120 train, 14,904 x 120 test, 10 classes
with the UIowa per-class counts). Every figure is the best of ``--repeat`` runs (wall time, seconds). The functions
are importable (``from fit_speed import lab_shaped_data, time_fit, time_sweep, plain_torch_fit``) for the full
benchmark table. Unless given, the training settings are those of the tree timed (``instrumentid.training``'s
defaults, :data:`instrumentid.settings.DEFAULT_TRAINING`), and nothing of instrumentid is imported before a function
runs, so ``benchmarks/compare_versions.py`` can time an older tree with this file.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

#: UIowa per-class row counts (train, test), from DATA.md.
UIOWA_COUNTS = [(6737, 1469), (2189, 419), (4167, 871), (8930, 1833), (4185, 932), (8885, 2469), (12250, 2449),
                (2505, 638), (2056, 557), (14343, 3267)]


def lab_shaped_data(*, n_features=120, spread=4.0, seed=0):
    """Gaussian classes with the UIowa shapes and per-class counts, rows sorted by class, standardized (float32).

    Returns ``X_train, y_train, X_test, y_test``.
    """
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(UIOWA_COUNTS), n_features))
    y_train = np.repeat(np.arange(len(UIOWA_COUNTS)), [c[0] for c in UIOWA_COUNTS])
    y_test = np.repeat(np.arange(len(UIOWA_COUNTS)), [c[1] for c in UIOWA_COUNTS])
    X_train = centers[y_train] + spread * rng.normal(size=(len(y_train), n_features))
    X_test = centers[y_test] + spread * rng.normal(size=(len(y_test), n_features))
    mean, std = X_train.mean(0), X_train.std(0)
    return (((X_train - mean) / std).astype(np.float32), y_train, ((X_test - mean) / std).astype(np.float32), y_test)


def _best(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def _given(**options) -> dict:
    """The options that are not None (the others are left to the function's defaults)."""
    return {k: v for k, v in options.items() if v is not None}


def _defaults():
    from instrumentid.settings import DEFAULT_TRAINING

    return DEFAULT_TRAINING


def time_fit(data, *, epochs=None, batch_size=None, lr=None, repeat=3):
    """Best wall time of ``instrumentid.training.fit`` and its final test accuracy: ``(seconds, accuracy)``."""
    from instrumentid.training import fit

    X, y, Xt, yt = data
    options = _given(epochs=epochs, batch_size=batch_size, lr=lr)
    seconds, (_, history) = _best(lambda: fit(X, y, X_test=Xt, y_test=yt, progress=False, **options), repeat)
    return seconds, history.test_accuracy[-1]


def time_sweep(data, *, rates=None, epochs=None, batch_size=None, repeat=1):
    """Best wall time of the batched ``instrumentid.training.sweep``: ``(seconds, {rate: final test accuracy})``."""
    from instrumentid.training import sweep

    X, y, Xt, yt = data
    options = _given(rates=rates, epochs=epochs, batch_size=batch_size)
    seconds, histories = _best(lambda: sweep(X, y, X_test=Xt, y_test=yt, progress=False, **options), repeat)
    return seconds, {r: h.test_accuracy[-1] for r, h in histories.items()}


def plain_torch_fit(data, *, epochs=None, batch_size=None, lr=None, seed=None):
    """The straightforward PyTorch loop (DataLoader, nn.Sequential, autograd, torch.optim.Adam); final test accuracy.

    The network and the settings not given are the lab's (:data:`instrumentid.settings.DEFAULT_TRAINING`).
    """
    import torch

    t = _defaults()
    epochs, batch_size = epochs or t.epochs, batch_size or t.batch_size
    lr, seed = lr or t.lr, t.seed if seed is None else seed
    X, y, Xt, yt = (torch.as_tensor(a) for a in data)
    torch.manual_seed(seed)
    n_classes = int(max(y.max(), yt.max())) + 1
    model = torch.nn.Sequential(torch.nn.Linear(X.shape[1], t.hidden_units), torch.nn.Sigmoid(),
                                torch.nn.Linear(t.hidden_units, n_classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=batch_size, shuffle=True)
    accuracy = 0.0
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(Xt)
            torch.nn.functional.cross_entropy(logits, yt)
            accuracy = (logits.argmax(1) == yt).float().mean().item()
    return accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept (default 3)")
    parser.add_argument("--no-reference", action="store_true", help="skip the plain PyTorch loop")
    parser.add_argument("--sweep", action="store_true", help="also time the 4-rate x 20-epoch sweep")
    args = parser.parse_args(argv)
    import torch

    data = lab_shaped_data()
    print(f"data: train {data[0].shape}, test {data[2].shape}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    t = _defaults()
    seconds, acc = time_fit(data, repeat=args.repeat)
    what = f"instrumentid fit ({t.epochs} epochs, batch {t.batch_size})"
    print(f"{what:<41} {seconds:7.3f} s   test accuracy {acc:.4f}")
    if not args.no_reference:
        ref, ref_acc = _best(lambda: plain_torch_fit(data), args.repeat)
        print(f"plain PyTorch loop (same settings)        {ref:7.3f} s   test accuracy {ref_acc:.4f}"
              f"   ratio {ref / seconds:.1f}x")
    if args.sweep:
        seconds, accs = time_sweep(data, repeat=1)
        what = f"instrumentid sweep ({len(t.rates)} rates x {t.sweep_epochs} epochs)"
        print(f"{what:<41} {seconds:7.3f} s   test accuracy "
              + ", ".join(f"{r:g}: {a:.4f}" for r, a in accs.items()))


if __name__ == "__main__":
    main()
