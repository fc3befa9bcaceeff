"""The compute floor of the lab's fit: its floating-point operations over the best matrix-multiply throughput.

    python benchmarks/fit_floor.py [--repeat 5] [--threads 2] [--breakdown]

The fit (``instrumentid.training.fit``: the lab's network features -> hidden -> classes, batch 128, Adam, the test
set scored after every epoch) is counted analytically, 2 m n k operations per matrix product m x k by k x n:

- a training row: forward ``2 (D H + H C)``; backward ``2 H C`` (output weights) + ``2 C H`` (hidden gradient) +
  ``2 D H`` (hidden weights), no gradient with respect to the input; elementwise work (activation, softmax, Adam)
  is not counted;
- a test row: the forward pass.

The throughput is that of ``torch.matmul`` (float32) at each of the fit's shapes, measured in this process with 1 and
``--threads`` intra-op threads, the best of ``--repeat`` runs of each. The floor is each product's operations divided
by its own shape's best throughput, summed: the time the fit's matrix products alone take on this machine, done as
fast as torch does them. ``bound`` divides all the operations by the best throughput of any shape (the large test
chunks run several times faster than batches of 128 rows, which no fit of batch 128 can reach). ``--breakdown``
profiles one fit (``torch.profiler``) and sums its operators' own CPU time by kind (:data:`KINDS`), so the gap
between the fit and its floor can be read. The functions are importable for ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

#: The operator kinds of :func:`breakdown`, matched against the start of torch's operator names.
KINDS = {
    "matrix products": ("aten::bmm", "aten::baddbmm", "aten::mm", "aten::addmm"),
    "Adam (fused kernel)": ("aten::_fused_adam_",),
    "activation and its gradient": ("aten::sigmoid_", "aten::sigmoid_backward", "aten::relu_", "aten::threshold_",
                                    "aten::threshold_backward", "aten::tanh_", "aten::tanh_backward", "aten::mul_"),
    "softmax, loss gradient, bias gradient": ("aten::_softmax", "aten::add", "aten::add_", "aten::sum"),
    "batch gathering": ("aten::index_select", "aten::copy_", "aten::_to_copy"),
}


@dataclass(frozen=True)
class Product:
    """A matrix product of the fit: ``(m, k) @ (k, n)``, done ``count`` times."""

    name: str
    m: int
    k: int
    n: int
    count: int

    @property
    def flops(self) -> int:
        """Floating-point operations of one product (multiplies and adds)."""
        return 2 * self.m * self.k * self.n


def fit_products(n_train: int, n_test: int, *, n_features: int, hidden: int, n_classes: int, epochs: int,
                 batch_size: int, eval_chunk: int = 8192) -> list[Product]:
    """The matrix products of a fit, at the shapes it runs them (a last, smaller batch and test chunk included)."""
    D, H, C = n_features, hidden, n_classes

    def step(name, n, count):
        return [Product(f"{name} forward, hidden", n, D, H, count),
                Product(f"{name} forward, output", n, H, C, count)]

    out = []
    for rows, each, what in ((n_train, batch_size, "train"), (n_test, eval_chunk, "test")):
        full, rest = divmod(rows, each)
        for n, count in ((each, full * epochs), (rest, epochs)):
            if not count or not n:
                continue
            out += step(what, n, count)
            if what == "train":
                out += [Product("train backward, output weights", C, n, H, count),
                        Product("train backward, hidden gradient", n, C, H, count),
                        Product("train backward, hidden weights", D, n, H, count)]
    return out


def total_flops(products) -> int:
    """Sum of the operations of ``products``."""
    return sum(p.flops * p.count for p in products)


def matmul_seconds(m: int, k: int, n: int, *, threads: int, repeat: int = 5, min_s: float = 0.02) -> float:
    """Best time of one float32 ``torch.matmul`` of ``(m, k) @ (k, n)`` with ``threads`` intra-op threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(m, k), torch.randn(k, n)
        out = torch.empty(m, n)
        torch.matmul(a, b, out=out)
        loops = 1
        while True:  # enough products per timing that the clock's resolution does not matter
            start = time.perf_counter()
            for _ in range(loops):
                torch.matmul(a, b, out=out)
            if time.perf_counter() - start >= min_s:
                break
            loops *= 4
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(loops):
                torch.matmul(a, b, out=out)
            best = min(best, (time.perf_counter() - start) / loops)
        return best
    finally:
        torch.set_num_threads(before)


def measure_floor(products, *, threads: int = 2, repeat: int = 5) -> dict:
    """Throughput at every distinct shape of ``products`` and the floors of their total.

    Returns
    -------
    dict
        ``flops`` (total operations), ``shapes`` (``"m x k x n"`` -> best time of one product, GFLOP/s and the
        thread count that gave it), ``floor_s`` (each product at its own shape's best throughput), ``best_gflops`` and
        ``best_shape`` (the fastest shape) and ``bound_s`` (all the operations at that throughput).
    """
    shapes = {}
    for p in products:
        key = f"{p.m} x {p.k} x {p.n}"
        if key in shapes:
            continue
        runs = {t: matmul_seconds(p.m, p.k, p.n, threads=t, repeat=repeat) for t in sorted({1, threads})}
        t_best = min(runs, key=runs.get)
        shapes[key] = {"seconds": runs[t_best], "gflops": p.flops / runs[t_best] / 1e9, "threads": t_best}
    best_shape = max(shapes, key=lambda s: shapes[s]["gflops"])
    flops = total_flops(products)
    best = shapes[best_shape]["gflops"] * 1e9
    floor = sum(p.count * shapes[f"{p.m} x {p.k} x {p.n}"]["seconds"] for p in products)
    return {"flops": flops, "shapes": shapes, "floor_s": floor, "best_gflops": best / 1e9,
            "best_shape": best_shape, "bound_s": flops / best}


def lab_fit_floor(data, *, epochs: int, batch_size: int, threads: int = 2, repeat: int = 5) -> dict:
    """:func:`measure_floor` of a fit on ``data = (X, y, X_test, y_test)`` with the default network."""
    from instrumentid.settings import DEFAULT_TRAINING
    from instrumentid.training import EVAL_CHUNK

    X, y, Xt, yt = data
    n_classes = int(max(y.max(), yt.max())) + 1
    products = fit_products(len(X), len(Xt), n_features=X.shape[1], hidden=DEFAULT_TRAINING.hidden_units,
                            n_classes=n_classes, epochs=epochs, batch_size=batch_size, eval_chunk=EVAL_CHUNK)
    return {**measure_floor(products, threads=threads, repeat=repeat),
            "network": f"{X.shape[1]} -> {DEFAULT_TRAINING.hidden_units} -> {n_classes}"}


def breakdown(data, *, epochs: int, batch_size: int) -> dict:
    """Own CPU time of a profiled fit's operators, by kind (:data:`KINDS`), and the fit's wall time under the profiler.

    Returns ``{"wall_s": ..., "kinds": {kind: seconds}, "operators": seconds of all operators}``; the wall time
    minus the operators' time is Python (the training loop, the step's calls into torch) and waiting.
    """
    from torch.profiler import ProfilerActivity, profile

    from instrumentid.training import fit

    X, y, Xt, yt = data
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        fit(X, y, X_test=Xt, y_test=yt, epochs=epochs, batch_size=batch_size, progress=False)
        wall = time.perf_counter() - start
    kinds = dict.fromkeys([*KINDS, "other operators"], 0.0)
    total = 0.0
    for event in prof.key_averages():
        seconds = event.self_cpu_time_total / 1e6
        total += seconds
        kind = next((k for k, names in KINDS.items() if event.key in names), "other operators")
        kinds[kind] += seconds
    return {"wall_s": wall, "kinds": kinds, "operators": total}


def main(argv=None) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fit_speed

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timings per shape; the best is kept (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="the larger thread count tried (default 2)")
    parser.add_argument("--breakdown", action="store_true", help="also profile one fit")
    args = parser.parse_args(argv)
    from instrumentid.settings import DEFAULT_TRAINING as T

    data = fit_speed.lab_shaped_data()
    floor = lab_fit_floor(data, epochs=T.epochs, batch_size=T.batch_size, threads=args.threads, repeat=args.repeat)
    seconds, _ = fit_speed.time_fit(data, repeat=3)
    print(f"fit {floor['network']}, {T.epochs} epochs, batch {T.batch_size}: {floor['flops'] / 1e9:.1f} GFLOP")
    for shape, s in floor["shapes"].items():
        print(f"  matmul {shape:<18} {s['gflops']:7.1f} GFLOP/s ({s['threads']} thread(s))")
    print(f"floor {floor['floor_s']:.3f} s (bound at {floor['best_gflops']:.1f} GFLOP/s, {floor['best_shape']}: "
          f"{floor['bound_s']:.3f} s); fit {seconds:.3f} s = {seconds / floor['floor_s']:.1f}x the floor, "
          f"{seconds / floor['bound_s']:.1f}x the bound")
    if args.breakdown:
        b = breakdown(data, epochs=T.epochs, batch_size=T.batch_size)
        print(f"profiled fit: {b['wall_s']:.2f} s wall, operators {b['operators']:.2f} s of CPU time")
        for kind, s in b["kinds"].items():
            print(f"  {kind:<28} {s:6.2f} s")


if __name__ == "__main__":
    main()
