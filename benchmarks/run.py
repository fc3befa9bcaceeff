"""The speed table of instrumentid: the lab's fit and sweep against Keras, plain PyTorch and scikit-learn, and the
other costs a user waits for (data set build, feature extraction, predict, ``--help``).

Run it from the repository (``make bench`` first installs the optional ``bench`` extra, TensorFlow and Keras)::

    make bench
    .venv/bin/python benchmarks/run.py [--data lab|default|DIR] [--quick] [--skip-peers] [--repeat N] [--json OUT]

In one run, on the same data, it measures

- **fit**: 10 epochs, batch 128, Adam 1e-3, test evaluation every epoch: ``instrumentid.training.fit``, the lab's
  Keras code, a plain PyTorch loop and scikit-learn's ``MLPClassifier`` (see ``benchmarks/peers.py``), each with its
  final test accuracy and its time as a multiple of instrumentid's; and the fit's compute floor (its floating-point
  operations at the best ``torch.matmul`` throughput of its shapes, ``benchmarks/fit_floor.py``), with, when the fit
  takes over 1.5x the floor, where the rest goes (one fit under ``torch.profiler``);
- **sweep**: rates 0.1, 0.01, 0.001, 0.0001, 20 epochs each, a fresh model per rate: ``instrumentid.training.sweep``
  (all rates in one model-batch) against the peers running the rates one after another;
- **default data set**: a build from scratch into a temporary cache, and feature extraction alone (notes/s, x real
  time), with ``benchmarks/build_speed.py``; ``--only features`` measures the feature extraction without the build;
- **predict** on a 16 s recording (rendered from a SoundFont, 44.1 kHz WAV): warm (model loaded, in this process) and
  cold (``instrumentid predict FILE`` from the shell: wall time and peak memory), and cold with the torch model
  (``InstrumentClassifier``, the path before numpy inference) as the "before";
- **long**: ``instrumentid predict`` of a 60-minute recording (44.1 kHz stereo WAV, ``benchmarks/long_memory.py``):
  wall time and peak memory;
- ``instrumentid --help`` from the shell.

Data (``--data``): ``lab`` (default) is random data of the lab's shape, Gaussian class clusters with the UIowa
per-class counts (66,247 x 120 train, 14,904 x 120 test, 10 classes; ``fit_speed.lab_shaped_data``), so accuracies
mean something; ``default`` is instrumentid's default data set; a folder is read as the lab's UIowa ``.npy`` files.
Every implementation gets the same standardized float32 arrays (mean and variance of the training rows) and
``--threads`` cores (default 2). Every peer runs in a process of its own (import time not counted); a peer whose
packages are missing is listed as "not installed". Times are wall-clock seconds, the best of ``--repeat`` runs
(``--sweep-repeat`` for the sweeps and the build, which are long).

``--quick`` shrinks everything (1/20 of the rows, 2 epochs, a 4 s and a 30 s recording, no full build) for a smoke
run; its figures are not comparable with the full run's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import build_speed  # noqa: E402 - benchmarks/ is on the path only now
import fit_floor  # noqa: E402
import fit_speed  # noqa: E402
import long_memory  # noqa: E402
import peers  # noqa: E402
import predict_floor  # noqa: E402

from instrumentid.cli import positive_int  # noqa: E402
from instrumentid.settings import DEFAULT_TRAINING as T  # noqa: E402

PEERS = ("keras", "pytorch", "sklearn")
RATES = T.rates
#: Issue 8's targets.
TARGET_KERAS_RATIO, TARGET_TORCH_RATIO, TARGET_ACC_POINTS = 10.0, 2.0, 0.3
TARGET_SWEEP_RATIO, TARGET_REAL_TIME, TARGET_PREDICT_S, TARGET_HELP_S = 20.0, 500.0, 1.0, 0.5
#: Issue 15's targets: cold predict (s, MB), warm predict (s), feature extraction (x real time), data set build
#: (notes/s: 3x the 193 of the issue's run), the long recording (s, MB) and the fit as a multiple of its floor.
TARGET_COLD_S, TARGET_COLD_MB, TARGET_WARM_S, TARGET_REAL_TIME_15 = 1.5, 250.0, 0.1, 600.0
TARGET_BUILD_RATE, TARGET_LONG_S, TARGET_LONG_MB, TARGET_FLOOR_RATIO = 3 * 193.0, 30.0, 1024.0, 1.5
PARTS = ("fit", "sweep", "build", "features", "predict", "long", "help")


# ----------------------------------------------------------------------------------------------- settings
def settings(*, quick: bool = False, repeat: int = 3, sweep_repeat: int = 1) -> dict:
    """Sizes and repeats of a run; ``quick`` is the smoke-test size."""
    return {
        "quick": quick,
        "row_step": 20 if quick else 1,  # keep every n-th row
        "fit_epochs": 2 if quick else T.epochs,
        "sweep_epochs": 2 if quick else T.sweep_epochs,
        "batch_size": T.batch_size,
        "lr": T.lr,
        "rates": list(RATES),
        "recording_s": 4.0 if quick else 16.0,
        "long_minutes": 0.5 if quick else 60.0,
        "repeat": repeat,
        "sweep_repeat": sweep_repeat,
        "help_repeat": 3 if quick else 7,
        "feature_sample": 20 if quick else 300,
        "full_build": not quick,
    }


# ----------------------------------------------------------------------------------------------- machine
def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_info(threads: int) -> dict:
    """CPU, cores, OS and the versions of everything timed (peers only if installed; not imported here)."""
    import importlib.metadata as md

    def version(dist):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    import torch

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads": threads,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "instrumentid": version("instrumentid"),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "scikit-learn": version("scikit-learn"),
            "librosa": version("librosa"),
            "tensorflow": version("tensorflow-cpu") or version("tensorflow"),
            "keras": version("keras"),
        },
    }


# ----------------------------------------------------------------------------------------------- data
def standardize(X_train, X_test) -> tuple:
    """Scale both sets with the training rows' mean and variance; float32."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(np.asarray(X_train, dtype=np.float64))
    return (scaler.transform(X_train).astype(np.float32), scaler.transform(X_test).astype(np.float32))


def load_data(spec: str = "lab", *, row_step: int = 1) -> tuple:
    """The benchmark data: ``((X_train, y_train, X_test, y_test), description)``, standardized float32.

    Parameters
    ----------
    spec : str
        ``"lab"`` (random data of the lab's shape), ``"default"`` (the default data set, built on first use) or a
        folder of the lab's UIowa files.
    row_step : int
        Keep every ``row_step``-th row of each set (the rows of the lab's data are sorted by class, so every class
        keeps its share).
    """
    if spec == "lab":
        X, y, Xt, yt = fit_speed.lab_shaped_data()
        what = "random data of the lab's shape (Gaussian class clusters, UIowa class counts)"
    else:
        if spec == "default":
            from instrumentid.datasets.soundfont import load_default_dataset

            ds = load_default_dataset(progress=False)
            what = f"the default data set ({ds.path})"
        else:
            from instrumentid.datasets.uiowa import load_uiowa

            ds = load_uiowa(spec)
            what = f"UIowa files in {spec}"
        X, Xt = standardize(ds.X_train, ds.X_test)
        y, yt = np.asarray(ds.y_train, dtype=np.int64), np.asarray(ds.y_test, dtype=np.int64)
    data = (X[::row_step], y[::row_step], Xt[::row_step], yt[::row_step])
    n_classes = int(max(data[1].max(), data[3].max())) + 1
    return data, (f"{what}: {len(data[1]):,} x {data[0].shape[1]} train, {len(data[3]):,} test, {n_classes} classes, "
                  "standardized float32")


# ----------------------------------------------------------------------------------------------- training
def _peer_row(name: str, data_file: Path | None, *, rates, epochs: int, batch_size: int, repeat: int,
              threads: int) -> dict:
    """Run one peer in a process of its own; a row for the table."""
    row = {"name": name, "label": peers.LABELS[name]}
    if data_file is None:
        return {**row, "status": "skipped"}
    if not peers.installed(name):
        return {**row, "status": "not installed"}
    cmd = [sys.executable, str(HERE / "peers.py"), name, str(data_file), "--rates", *map(repr, rates),
           "--epochs", str(epochs), "--batch-size", str(batch_size), "--repeat", str(repeat), "--threads",
           str(threads)]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {**row, "status": f"failed: {last}"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    accuracy = {float(k): v for k, v in out["accuracy"].items()}
    return {**row, "status": "ok", "seconds": out["seconds"], "accuracy": accuracy, "versions": out["versions"]}


def time_training(data, *, sweep: bool, cfg: dict, data_file: Path | None, peer_names=PEERS,
                  threads: int = 2, log=print) -> list:
    """Rows (instrumentid first, then each peer) for the fit (``sweep=False``) or the sweep.

    Each row: ``name``, ``label``, ``status`` ("ok", "skipped", "not installed", "failed: ..."), and when ok
    ``seconds``, ``accuracy`` (rate -> final test accuracy) and ``ratio`` (seconds / instrumentid's seconds).
    """
    rates = cfg["rates"] if sweep else [cfg["lr"]]
    epochs = cfg["sweep_epochs"] if sweep else cfg["fit_epochs"]
    repeat = cfg["sweep_repeat"] if sweep else cfg["repeat"]
    what = "sweep" if sweep else "fit"
    log(f"[{what}] instrumentid ...")
    if sweep:
        seconds, accuracy = fit_speed.time_sweep(data, rates=tuple(rates), epochs=epochs,
                                                 batch_size=cfg["batch_size"], repeat=repeat)
    else:
        seconds, acc = fit_speed.time_fit(data, epochs=epochs, batch_size=cfg["batch_size"], lr=cfg["lr"],
                                          repeat=repeat)
        accuracy = {cfg["lr"]: acc}
    rows = [{"name": "instrumentid", "label": "instrumentid", "status": "ok", "seconds": seconds,
             "accuracy": {float(k): float(v) for k, v in accuracy.items()}}]
    for name in peer_names:
        log(f"[{what}] {peers.LABELS[name]} ...")
        rows.append(_peer_row(name, data_file, rates=rates, epochs=epochs, batch_size=cfg["batch_size"],
                              repeat=repeat, threads=threads))
    for row in rows:
        if row["status"] == "ok":
            row["ratio"] = row["seconds"] / seconds
    return rows


def time_floor(data, *, cfg: dict, fit_s: float, threads: int = 2, log=print) -> dict:
    """The fit's compute floor (``benchmarks/fit_floor.py``) and the fit's time as a multiple of it; over
    :data:`TARGET_FLOOR_RATIO`, also a profiled fit's operator time by kind (``breakdown``)."""
    log("[fit] compute floor ...")
    out = fit_floor.lab_fit_floor(data, epochs=cfg["fit_epochs"], batch_size=cfg["batch_size"], threads=threads,
                                  repeat=max(5, cfg["repeat"]))
    out["fit_s"], out["ratio"] = fit_s, fit_s / out["floor_s"]
    if out["ratio"] > TARGET_FLOOR_RATIO:
        log("[fit] profiling a fit ...")
        out["breakdown"] = fit_floor.breakdown(data, epochs=cfg["fit_epochs"], batch_size=cfg["batch_size"])
    return out


# ----------------------------------------------------------------------------------------------- data set build
def time_build(cfg: dict, *, full: bool = True, log=print) -> dict:
    """Default data set build from scratch (``full`` and ``full_build``) and feature extraction speed alone."""
    out = {}
    if full and cfg["full_build"]:
        log("[build] default data set from scratch ...")
        out["build"] = build_speed.time_build()
    log("[build] feature extraction ...")
    out["features"] = build_speed.time_features(sample=cfg["feature_sample"])
    return out


# ----------------------------------------------------------------------------------------------- predict, --help
def write_recording(path, *, duration_s: float = 16.0, sr: int = 44100, program: int = 40, seed: int = 0) -> Path:
    """A phrase of violin notes rendered from the first default SoundFont: one note every 0.8 s, 16-bit WAV."""
    import soundfile as sf

    from instrumentid.datasets.render import default_soundfonts, render_note

    soundfont = next(iter(default_soundfonts().values()))
    rng = np.random.default_rng(seed)
    step = int(0.8 * sr)
    y = np.zeros(int(round(duration_s * sr)), dtype=np.float32)
    for start in range(0, len(y) - step + 1, step):
        note = render_note(soundfont, program, int(rng.integers(60, 84)), velocity=int(rng.integers(60, 110)),
                           duration_s=0.5, sr=sr)
        note = np.asarray(note, dtype=np.float32)[: len(y) - start]
        y[start: start + len(note)] += note
    y *= 0.9 / max(float(np.abs(y).max()), 1e-9)
    sf.write(str(path), y, sr, subtype="PCM_16")
    return Path(path)


def predict_model(data, folder) -> tuple:
    """The built-in model if it exists, else a stand-in of the same size (1 epoch on ``data``) saved to ``folder``.

    Returns ``(model path or None, description)``; ``None`` means the built-in model.
    """
    from instrumentid.prediction import DEFAULT_MODEL
    from instrumentid.settings import DEFAULT_NOTES, SHIPPED_FEATURES, SHIPPED_TRAINING

    if (DEFAULT_MODEL / "model.json").is_file():
        return None, "the built-in model"
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.datasets.programs import DEFAULT_CLASSES

    # the shipped model's kind and size: the 120 descriptors and musicnn's pools, a network of five on each
    y = data[1][:2000]
    names = np.asarray(list(DEFAULT_CLASSES))[y % len(DEFAULT_CLASSES)]
    X = np.random.default_rng(0).normal(size=(len(y), SHIPPED_FEATURES.n_features))
    t = SHIPPED_TRAINING
    clf = InstrumentClassifier(epochs=1, random_state=0, feature_settings=SHIPPED_FEATURES, note_settings=DEFAULT_NOTES,
                               hidden_units=t.hidden_units, activation=t.activation, members=t.members,
                               branches=SHIPPED_FEATURES.branches).fit(X, names)
    path = clf.save(Path(folder) / "stand-in-model")
    return path, "a stand-in model of the built-in model's size (the built-in model is missing)"


def cli_command() -> list:
    """How the shell runs instrumentid: the console script beside this Python, else ``python -m instrumentid``."""
    script = Path(sys.executable).parent / "instrumentid"
    return [str(script)] if script.exists() else [sys.executable, "-m", "instrumentid"]


def run_command(cmd: list) -> tuple:
    """Run a shell command once: ``(wall seconds, peak resident memory in MB)``, its own (``long_memory.LAUNCHER``).

    Raises RuntimeError (with its last stderr line) if it fails.
    """
    with tempfile.TemporaryFile("w+") as err:
        run = long_memory.run_measured(cmd, stdout=subprocess.DEVNULL, stderr=err)
        if run["exit"] != 0:
            err.seek(0)
            last = (err.read().strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"{Path(cmd[0]).name} {cmd[1]} failed (exit code {run['exit']}): {last}")
    return run["seconds"], run["peak_mb"]


def time_command(cmd: list, *, repeat: int) -> float:
    """Best wall time of a shell command over ``repeat`` runs; RuntimeError (with its last stderr line) if it fails."""
    return best_command(cmd, repeat=repeat)[0]


def best_command(cmd: list, *, repeat: int) -> tuple:
    """Best wall time and lowest peak memory (MB) of a shell command over ``repeat`` runs (see :func:`run_command`)."""
    runs = [run_command(cmd) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


#: ``predict`` with the torch model (:class:`~instrumentid.classifier.InstrumentClassifier`, the path before numpy
#: inference, still reachable from the Python API): the recording, then the model folder or nothing (built-in).
TORCH_PREDICT = """import sys
from pathlib import Path
from instrumentid.classifier import InstrumentClassifier
from instrumentid.prediction import DEFAULT_MODEL, format_predictions, predict
model = InstrumentClassifier.load(sys.argv[2] if len(sys.argv) > 2 else DEFAULT_MODEL)
print(format_predictions([predict(sys.argv[1], model=model)]))
"""


def time_predict(recording, *, model=None, repeat: int = 3) -> dict:
    """``predict`` on ``recording``: warm (in this process, model loaded, one call done first), cold (shell: wall time
    and peak memory) and, as the "before", cold with the torch model (:data:`TORCH_PREDICT`)."""
    from instrumentid.prediction import load_model, predict

    clf = load_model(model)
    result = predict(recording, model=clf)
    warm = best_call(lambda: predict(recording, model=clf), repeat=repeat)
    cmd = cli_command() + ["predict", str(recording)] + ([] if model is None else ["--model", str(model)])
    out = {"warm_s": warm, "n_notes": len(result.notes), "duration_s": result.duration_s,
           "command": " ".join(shlex.quote(c) for c in cmd)}
    settings = clf.feature_settings
    if settings is not None and settings.embedding is not None:
        # the part of the warm figure before the embedding (decoding, notes, descriptors), and the embedding
        # network's compute floor on the recording's notes (benchmarks/predict_floor.py)
        from instrumentid.analysis import analyze

        descriptors = dataclasses.replace(settings, embedding=None)
        analyze(recording, note_settings=clf.note_settings, feature_settings=descriptors)
        out["descriptors_s"] = best_call(lambda: analyze(recording, note_settings=clf.note_settings,
                                                         feature_settings=descriptors), repeat=repeat)
        out["embedding_floor"] = predict_floor.embedding_floor(settings.embedding, n_frames=settings.embedding_frames,
                                                               n_notes=len(result.notes))
    torch_cmd = [sys.executable, "-c", TORCH_PREDICT, str(recording), *([] if model is None else [str(model)])]
    for key, command in (("cold", cmd), ("cold_torch", torch_cmd)):
        try:
            out[f"{key}_s"], out[f"{key}_mb"] = best_command(command, repeat=repeat)
        except RuntimeError as exc:
            out[f"{key}_error"] = str(exc)
    return out


def best_call(fn, *, repeat: int) -> float:
    """Best wall time of ``repeat`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def time_help(*, repeat: int = 7) -> float:
    """Best wall time of ``instrumentid --help`` from the shell."""
    return time_command(cli_command() + ["--help"], repeat=repeat)


# ----------------------------------------------------------------------------------------------- report
def _accuracy_text(accuracy: dict, rates) -> str:
    return " / ".join(f"{accuracy[float(r)]:.4f}" for r in rates)


def training_table(rows: list, *, rates) -> list:
    """Lines of a fit or sweep table."""
    head = "test accuracy" if len(rates) == 1 else "test accuracy at " + " / ".join(f"{r:g}" for r in rates)
    width = max(len(head), 7 * len(rates) + 3 * (len(rates) - 1))
    lines = [f"  {'implementation':<22} {'seconds':>8}   {head:<{width}}   {'x instrumentid':>14}"]
    for row in rows:
        if row["status"] != "ok":
            lines.append(f"  {row['label']:<22} {row['status']}")
            continue
        lines.append(f"  {row['label']:<22} {row['seconds']:>8.2f}   {_accuracy_text(row['accuracy'], rates):<{width}}"
                     f"   {row['ratio']:>14.1f}")
    return lines


def targets(results: dict) -> list:
    """Issue 8's targets measured by this run: ``(target, measured, met)``; a target not measured is left out."""
    out = []
    rows = {r["name"]: r for r in results.get("fit", [])}
    ours = rows.get("instrumentid")
    for name, limit in (("keras", TARGET_KERAS_RATIO), ("pytorch", TARGET_TORCH_RATIO)):
        peer = rows.get(name)
        if ours and peer and peer["status"] == "ok":
            lr = next(iter(ours["accuracy"]))
            points = 100 * abs(ours["accuracy"][lr] - peer["accuracy"][lr])
            out.append((f"fit <= 1/{limit:g} of {peer['label']}'s time", f"1/{peer['ratio']:.1f}",
                        peer["ratio"] >= limit))
            out.append((f"fit accuracy within {TARGET_ACC_POINTS} points of {peer['label']}",
                        f"{points:.2f} points", points <= TARGET_ACC_POINTS))
    keras_sweep = {r["name"]: r for r in results.get("sweep", [])}.get("keras")
    if keras_sweep and keras_sweep["status"] == "ok":
        out.append((f"sweep >= {TARGET_SWEEP_RATIO:g}x faster than Keras rate by rate", f"{keras_sweep['ratio']:.1f}x",
                    keras_sweep["ratio"] >= TARGET_SWEEP_RATIO))
    features = results.get("build", {}).get("features")
    if features:
        out.append((f"feature extraction >= {TARGET_REAL_TIME:g}x real time", f"{features['x_real_time']:.0f}x",
                    features["x_real_time"] >= TARGET_REAL_TIME))
    pred = results.get("predict")
    if pred:
        out.append((f"predict {pred['duration_s']:.0f} s recording < {TARGET_PREDICT_S:g} s warm",
                    f"{pred['warm_s']:.2f} s", pred["warm_s"] < TARGET_PREDICT_S))
    if "help_s" in results:
        out.append((f"instrumentid --help < {TARGET_HELP_S:g} s", f"{results['help_s']:.2f} s",
                    results["help_s"] < TARGET_HELP_S))
    return out


def targets_15(results: dict) -> list:
    """Issue 15's targets measured by this run: ``(target, measured, met)``; a target not measured is left out."""
    out = []
    pred = results.get("predict")
    if pred and "cold_s" in pred:
        out.append((f"cold predict of a {pred['duration_s']:.0f} s recording <= {TARGET_COLD_S:g} s and "
                    f"<= {TARGET_COLD_MB:g} MB", f"{pred['cold_s']:.2f} s, {pred['cold_mb']:.0f} MB",
                    pred["cold_s"] <= TARGET_COLD_S and pred["cold_mb"] <= TARGET_COLD_MB))
    if pred:
        floor = pred.get("embedding_floor")
        out.append((f"warm predict <= {TARGET_WARM_S:g} s", f"{pred['warm_s']:.2f} s"
                    + (f" (without the embedding {pred['descriptors_s']:.2f} s; the embedding's floor alone "
                       f"{floor['floor_s']:.2f} s)" if floor else ""), pred["warm_s"] <= TARGET_WARM_S))
    build = results.get("build", {})
    if "features" in build:
        rate = build["features"]["x_real_time"]
        out.append((f"feature extraction >= {TARGET_REAL_TIME_15:g}x real time", f"{rate:.0f}x",
                    rate >= TARGET_REAL_TIME_15))
    if "build" in build:
        rate = build["build"]["n_notes"] / build["build"]["seconds"]
        out.append((f"default data set build >= {TARGET_BUILD_RATE:g} notes/s (3x 193)", f"{rate:.0f} notes/s",
                    rate >= TARGET_BUILD_RATE))
    long = results.get("long")
    if long and long["exit"] == 0:
        out.append((f"predict of a {long['minutes']:g} min recording <= {TARGET_LONG_S:g} s and "
                    f"<= {TARGET_LONG_MB / 1024:g} GB", f"{long['seconds']:.1f} s, {long['peak_mb']:.0f} MB",
                    long["seconds"] <= TARGET_LONG_S and long["peak_mb"] <= TARGET_LONG_MB))
    floor = results.get("floor")
    if floor:
        out.append((f"fit <= {TARGET_FLOOR_RATIO:g}x its compute floor", f"{floor['ratio']:.1f}x",
                    floor["ratio"] <= TARGET_FLOOR_RATIO))
    return out


def floor_lines(floor: dict) -> list:
    """The compute floor of the fit, and where the rest of its time goes when it was profiled."""
    lines = [f"  compute floor: {floor['flops'] / 1e9:.1f} GFLOP ({floor['network']}, forward and backward of every "
             "training row, forward of the test rows every epoch) at the best torch.matmul throughput of each of the "
             f"fit's shapes = {floor['floor_s']:.2f} s; the fit ({floor['fit_s']:.2f} s) is {floor['ratio']:.1f}x "
             f"the floor (at the fastest shape's {floor['best_gflops']:.0f} GFLOP/s, {floor['best_shape']}, for "
             f"every product: {floor['bound_s']:.2f} s, {floor['fit_s'] / floor['bound_s']:.1f}x)"]
    lines.append("  matmul throughput, GFLOP/s (best of 1 and 2 threads): " + ", ".join(
        f"{shape} {s['gflops']:.0f}" for shape, s in floor["shapes"].items()))
    b = floor.get("breakdown")
    if b:
        lines.append(f"  where the fit's time goes (one fit under torch.profiler, {b['wall_s']:.2f} s wall): "
                     + ", ".join(f"{kind} {sec:.2f} s" for kind, sec in b["kinds"].items())
                     + f"; the rest, {max(b['wall_s'] - b['operators'], 0.0):.2f} s, is Python (the step loop, "
                     "calls into torch) and waiting")
    return lines


def format_report(results: dict) -> str:
    """The whole report as text (Markdown-friendly: the tables are indented code)."""
    m, cfg = results["machine"], results["settings"]
    v = m["versions"]
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['os']}",
        "versions: python {}, {}".format(m["python"], ", ".join(f"{k} {val}" for k, val in v.items() if val)),
        f"threads: {m['threads']} (torch.set_num_threads; TensorFlow intra-op; BLAS for scikit-learn)",
        f"data: {results['data']}",
        f"command: {results['command']}",
        "",
    ]
    if "fit" in results:
        lines.append(f"fit: {cfg['fit_epochs']} epochs, batch {cfg['batch_size']}, Adam lr {cfg['lr']:g}, test "
                     f"evaluation every epoch (scikit-learn: at the end); best of {cfg['repeat']}")
        lines += training_table(results["fit"], rates=[cfg["lr"]])
        lines += (floor_lines(results["floor"]) if "floor" in results else []) + [""]
    if "sweep" in results:
        lines.append(f"sweep: {len(cfg['rates'])} rates x {cfg['sweep_epochs']} epochs, a fresh model per rate "
                     f"(instrumentid: all rates in one model-batch; peers: one rate after another); best of "
                     f"{cfg['sweep_repeat']}")
        lines += training_table(results["sweep"], rates=cfg["rates"]) + [""]
    lines.append("other timings:")
    build = results.get("build", {})
    if "build" in build:
        b = build["build"]
        lines.append(f"  default data set, built from scratch (all cores): {b['seconds']:.1f} s for {b['n_notes']:,} "
                     f"notes ({b['n_notes'] / b['seconds']:.0f} notes/s)")
    if "features" in build:
        f = build["features"]
        lines.append(f"  feature extraction (clip_features, one process): {f['notes_per_s']:.0f} notes/s, "
                     f"{f['x_real_time']:.0f}x real time, {f['cpu_ms_per_note']:.1f} CPU ms a note ({f['n_notes']} "
                     f"notes, mean {f['mean_note_s']:.2f} s); before (one note at a time, the code of before issue "
                     f"15): {f['before_notes_per_s']:.0f} notes/s, {f['before_x_real_time']:.0f}x, "
                     f"{f['before_cpu_ms_per_note']:.1f} CPU ms a note")
    if "predict" in results:
        p = results["predict"]
        lines.append(f"  predict, {p['duration_s']:.0f} s recording ({p['n_notes']} notes, {p['model']}): "
                     f"warm {p['warm_s']:.2f} s; cold from the shell "
                     + (f"{p['cold_s']:.2f} s, peak {p['cold_mb']:.0f} MB" if "cold_s" in p else p["cold_error"])
                     + "; before (the torch model, InstrumentClassifier): "
                     + (f"{p['cold_torch_s']:.2f} s, peak {p['cold_torch_mb']:.0f} MB" if "cold_torch_s" in p
                        else p["cold_torch_error"]))
        if "descriptors_s" in p:
            lines.append(f"    of the warm figure: decoding, notes and descriptors {p['descriptors_s']:.3f} s (warm, "
                         f"without the embedding); the embedding the rest, {p['warm_s'] - p['descriptors_s']:.3f} s")
            lines.append("    floor: " + predict_floor.floor_line(p["embedding_floor"]))
    if "long" in results:
        r = results["long"]
        lines.append(f"  predict, {r['minutes']:g} min recording (44.1 kHz stereo WAV, {r['rows']} notes): "
                     + (f"{r['seconds']:.1f} s ({r['cpu_s']:.1f} s of CPU), peak {r['peak_mb']:.0f} MB"
                        if r["exit"] == 0 else f"failed (exit {r['exit']}): {r['stderr']}"))
    if "help_s" in results:
        lines.append(f"  instrumentid --help: {results['help_s']:.3f} s (best of {cfg['help_repeat']})")
    if "help_error" in results:
        lines.append(f"  instrumentid --help: {results['help_error']}")
    checks = targets(results)
    if checks:
        lines += ["", "issue 8 targets:"]
        lines += [f"  [{'met' if ok else 'MISSED'}] {name}: {value}" for name, value, ok in checks]
    checks = targets_15(results)
    if checks:
        lines += ["", "issue 15 targets:"]
        lines += [f"  [{'met' if ok else 'MISSED'}] {name}: {value}" for name, value, ok in checks]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- main
def run(*, data: str = "lab", quick: bool = False, skip_peers: bool = False, repeat: int = 3, sweep_repeat: int = 1,
        threads: int = 2, parts=PARTS, command: str = "", log=print) -> dict:
    """Measure everything; returns the results (``format_report`` turns them into the table)."""
    import torch

    torch.set_num_threads(threads)
    cfg = settings(quick=quick, repeat=repeat, sweep_repeat=sweep_repeat)
    arrays, description = load_data(data, row_step=cfg["row_step"])
    results = {"machine": machine_info(threads), "settings": cfg, "data": description, "command": command}
    with tempfile.TemporaryDirectory(prefix="instrumentid-bench-") as tmp:
        data_file = None if skip_peers else peers.save_data(arrays, Path(tmp) / "data.npz")
        for part in ("fit", "sweep"):
            if part in parts:
                results[part] = time_training(arrays, sweep=part == "sweep", cfg=cfg, data_file=data_file,
                                              threads=threads, log=log)
            if part == "fit" and part in parts:
                results["floor"] = time_floor(arrays, cfg=cfg, fit_s=results["fit"][0]["seconds"], threads=threads,
                                              log=log)
        if "build" in parts or "features" in parts:  # features alone: without the build from scratch
            results["build"] = time_build(cfg, full="build" in parts, log=log)
        if "predict" in parts:
            log("[predict] ...")
            recording = write_recording(Path(tmp) / "recording.wav", duration_s=cfg["recording_s"])
            model, model_text = predict_model(arrays, tmp)
            results["predict"] = {**time_predict(recording, model=model, repeat=repeat), "model": model_text}
        if "long" in parts:
            log(f"[long] predict, {cfg['long_minutes']:g} min recording ...")
            path = long_memory.recording(Path(tmp), cfg["long_minutes"])
            results["long"] = long_memory.measure("predict", path, cfg["long_minutes"])
        if "help" in parts:
            log("[help] ...")
            try:
                results["help_s"] = time_help(repeat=cfg["help_repeat"])
            except RuntimeError as exc:
                results["help_error"] = str(exc)
    return results


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="lab",
                        help="'lab' (random data of the lab's shape, default), 'default' (the default data set) or a "
                             "folder of UIowa .npy files")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--skip-peers", action="store_true", help="time instrumentid only")
    parser.add_argument("--repeat", type=positive_int, default=3, help="best of N for fits and predict (default 3)")
    parser.add_argument("--sweep-repeat", type=positive_int, default=1,
                        help="best of N for the sweeps and the build (default 1)")
    parser.add_argument("--threads", type=positive_int, default=2, help="cores each implementation uses (default 2)")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS), help="measure only these parts")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.data not in ("lab", "default") and not Path(args.data).is_dir():
        print(f"--data must be 'lab', 'default' or a folder, got {args.data!r}", file=sys.stderr)
        return 2
    shown = sys.argv[1:] if argv is None else list(argv)
    command = " ".join(["python benchmarks/run.py", *map(shlex.quote, shown)])
    results = run(data=args.data, quick=args.quick, skip_peers=args.skip_peers, repeat=args.repeat,
                  sweep_repeat=args.sweep_repeat, threads=args.threads, parts=tuple(args.only), command=command,
                  log=lambda text: print(text, file=sys.stderr, flush=True))
    print(format_report(results))
    if args.json:
        tmp = args.json.with_name(f".{args.json.name}.tmp")
        tmp.write_text(json.dumps(results, indent=2, default=str))
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
