"""The lab, step by step, as one reproducible run: ``instrumentid lab`` (and ``train``, ``sweep``, ``plot``).

The lab's steps and where they live:

1.   load a recording (the lab's soprano-saxophone example by default) and draw its mel spectrogram
     (:mod:`instrumentid.audio`, :func:`instrumentid.plots.plot_mel_spectrogram`);
2.   cut it into notes and turn each note into 120 features (:mod:`instrumentid.notes`, :mod:`instrumentid.features`);
3.   load the feature set and print its counts (:mod:`instrumentid.datasets`);
4.   standardize with the training set's statistics (inside :class:`~instrumentid.classifier.InstrumentClassifier`);
5.   the network and its summary (:mod:`instrumentid.model`);
6.   train 10 epochs, scoring the test set every epoch (:func:`instrumentid.training.fit` via the classifier);
7.   plot accuracy and loss per epoch (:func:`instrumentid.plots.plot_history`);
8.   learning-rate sweep (:func:`instrumentid.training.sweep`);
9.   plot the sweep's training losses (:func:`instrumentid.plots.plot_sweep`).

Everything a run produces lands in one run folder (default ``runs/lab-YYYYmmdd-HHMMSS``)::

    run.json            settings, versions, timings per step, final accuracies, data path, class names
    example.aiff        step 1's recording when none is given (the lab's soprano saxophone, C6 to Eb6)
    mel_spectrogram.png step 1
    notes.csv           step 2: one row per note (start_s, end_s, f0_hz, midi, name)
    note_features.npy   step 2: float32 (n_notes, 120)
    history.json/.csv   per-epoch train/test loss and accuracy (step 6)
    accuracy_loss.png   step 7
    model/              the trained classifier (model.safetensors + model.json), speaks class names
    sweep.json/.csv     one history per learning rate (step 8)
    sweep_loss.png      step 9

The folder is written under a temporary name and renamed when the run is complete, so an interrupted run leaves
nothing half-written.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from instrumentid.errors import ParameterError
from instrumentid.util import atomic_dir, commit_dir, package_versions

__all__ = ["DEFAULT_RATES", "load_data", "plot_run", "run_lab", "run_sweep", "run_train"]

#: The lab's learning-rate sweep.
DEFAULT_RATES = (0.1, 0.01, 0.001, 0.0001)

#: File names inside a run folder.
HISTORY_JSON, HISTORY_CSV, HISTORY_PNG = "history.json", "history.csv", "accuracy_loss.png"
SWEEP_JSON, SWEEP_CSV, SWEEP_PNG = "sweep.json", "sweep.csv", "sweep_loss.png"
RUN_JSON, MODEL_DIR, REPORT_HTML = "run.json", "model", "report.html"
EXAMPLE_AUDIO, SPECTROGRAM_PNG = "example.aiff", "mel_spectrogram.png"
NOTES_CSV, FEATURES_NPY = "notes.csv", "note_features.npy"


# ----------------------------------------------------------------------------------------------- helpers
def load_data(data=None, *, progress: bool = True):
    """The lab's step 3: a data set folder in the UIowa layout, or the default data set when ``data`` is None.

    Returns
    -------
    FeatureDataset
    """
    if data is None:
        from instrumentid.datasets.soundfont import load_default_dataset

        return load_default_dataset(progress=progress)
    from instrumentid.datasets.uiowa import load_uiowa

    return load_uiowa(data)


def _feature_settings(dataset):
    """How the data set's features were computed, if its ``dataset.json`` says (None for the UIowa files)."""
    info = dataset.info or {}
    settings = info.get("settings")
    found = settings.get("features") if isinstance(settings, dict) else None
    found = found if found is not None else info.get("feature_settings")
    return dict(found) if isinstance(found, dict) else None


class _Run:
    """One run folder being written: a temporary folder, the printed log, timings, and ``run.json``."""

    def __init__(self, command: str, out, settings: dict):
        self.final = Path(out) if out is not None else Path("runs") / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}"
        if self.final.exists() and not self.final.is_dir():
            raise ParameterError(f"run folder {str(self.final)!r} exists and is not a folder")
        if self.final.is_dir() and any(self.final.iterdir()) and not (self.final / RUN_JSON).is_file():
            raise ParameterError(f"run folder {str(self.final)!r} exists and is not a run folder (no {RUN_JSON}); "
                                 "choose a new or empty --out")
        self.record = {"command": command, "settings": settings, "timings_s": {}}
        self.start = time.perf_counter()
        self.tmp = None

    def __enter__(self):
        self.tmp = atomic_dir(self.final)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        self.record["timings_s"]["total"] = round(time.perf_counter() - self.start, 3)
        self.record["versions"] = package_versions({"python": "python", "numpy": "numpy", "torch": "torch",
                                                    "sklearn": "scikit-learn", "instrumentid": "instrumentid"})
        (self.tmp / RUN_JSON).write_text(json.dumps(self.record, indent=1, default=str) + "\n")
        if (self.tmp / HISTORY_JSON).is_file() or (self.tmp / SWEEP_JSON).is_file():
            from instrumentid.report import write_report

            write_report(self.tmp, out=self.tmp / REPORT_HTML)
        commit_dir(self.tmp, self.final)
        print(f"\nRun folder: {self.final}")
        return False

    def timed(self, step: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.record["timings_s"][step] = round(time.perf_counter() - t0, 3)
        return out

    def load_data(self, data, *, progress: bool):
        """Step 3: load the data set (timed), print its counts, record what it is."""
        from instrumentid.datasets.uiowa import describe

        _heading("Data")
        dataset = self.timed("load_data", load_data, data, progress=progress)
        print(describe(dataset))
        self.record["data"] = {
            "path": None if dataset.path is None else str(Path(dataset.path).resolve()),
            "kind": (dataset.info or {}).get("kind", "uiowa"),
            "n_train": len(dataset.y_train), "n_test": len(dataset.y_test),
            "n_features": dataset.n_features, "class_names": list(dataset.class_names),
        }
        return dataset


def _heading(text: str) -> None:
    print(f"\n== {text}")


def _audio_steps(run: _Run, audio) -> None:
    """Steps 1-2: load a recording, draw its mel spectrogram, cut it into notes and featurize every note."""
    import csv

    from instrumentid import plots
    from instrumentid.audio import SR, load_audio
    from instrumentid.features import segment_features
    from instrumentid.notes import detect_notes

    _heading("Audio")
    if audio is None:
        import soundfile as sf

        from instrumentid.datasets.soundfont import lab_example

        audio = run.tmp / EXAMPLE_AUDIO
        sf.write(str(audio), run.timed("render_example", lab_example, sr=SR), SR, format="AIFF", subtype="PCM_16")
        shown = run.final / EXAMPLE_AUDIO
        print("No --audio given: rendered the lab's example, a soprano saxophone with vibrato playing C6, C#6, D6 "
              f"and Eb6 (FluidR3 GM), to {shown}")
    else:
        shown = audio
    y, sr = run.timed("load_audio", load_audio, audio)
    print(f"Loaded {shown}: {len(y) / sr:.2f} s at {sr} Hz, mono")
    fig, _ = plots.plot_mel_spectrogram(y, sr=sr, title=f"Mel spectrogram: {Path(shown).name}")
    path = run.timed("plot_spectrogram", plots.save_figure, fig, run.tmp / SPECTROGRAM_PNG)
    print(f"Mel spectrogram (128 mels, up to 8 kHz, dB): {run.final / path.name}")

    _heading("Notes and features")
    notes = run.timed("detect_notes", detect_notes, y, sr=sr)
    X = run.timed("features", segment_features, y, notes, sr=sr)
    with open(run.tmp / NOTES_CSV, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["start_s", "end_s", "f0_hz", "midi", "name"])
        writer.writerows([f"{n.start_s:.3f}", f"{n.end_s:.3f}", f"{n.f0_hz:.1f}", n.midi, n.name] for n in notes)
    np.save(run.tmp / FEATURES_NPY, X)
    print(f"{len(notes)} notes: " + ", ".join(f"{n.name} ({n.start_s:.2f}-{n.end_s:.2f} s)" for n in notes))
    print(f"Features per note: {X.shape[1]} (matrix {X.shape[0]} x {X.shape[1]}, saved to "
          f"{run.final / FEATURES_NPY})")
    run.record["audio"] = {"path": str(shown), "duration_s": round(len(y) / sr, 3), "sr": sr,
                           "notes": [n.name for n in notes]}


def _train_steps(run: _Run, dataset, *, epochs, batch_size, hidden_units, lr, seed, progress):
    """Steps 4-7: standardize, summarize, train with the test set scored per epoch, save history, model, figure."""
    from instrumentid import plots
    from instrumentid.classifier import InstrumentClassifier
    from instrumentid.model import LabNet, model_summary
    from instrumentid.training import format_epoch

    _heading("Standardization")
    print("Features standardized with the training set's mean and variance only (StandardScaler, kept with the "
          "model).")
    _heading("Model")
    print(model_summary(LabNet(dataset.n_features, dataset.n_classes, hidden_units=hidden_units)))
    print(f"Loss: cross-entropy; optimizer: Adam (lr={lr:g}); batch size {batch_size}; {epochs} epochs")

    _heading(f"Training ({epochs} epochs, test set scored after each)")
    names = np.asarray(dataset.class_names)
    clf = InstrumentClassifier(hidden_units=hidden_units, activation="sigmoid", lr=lr, epochs=epochs,
                               batch_size=batch_size, random_state=seed, verbose=progress)
    run.timed("train", clf.fit, dataset.X_train, names[dataset.y_train],
              eval_set=(dataset.X_test, names[dataset.y_test]))
    history = clf.history_
    for i in range(history.epochs):
        print(format_epoch(history, i))
    print(f"Test accuracy: {history.test_accuracy[-1]:.4f} (test loss {history.test_loss[-1]:.4f})")
    clf.feature_settings_ = _feature_settings(dataset)
    history.to_json(run.tmp / HISTORY_JSON)
    history.to_csv(run.tmp / HISTORY_CSV)
    clf.save(run.tmp / MODEL_DIR)
    run.record["final"] = {
        "train_loss": history.train_loss[-1], "train_accuracy": history.train_accuracy[-1],
        "test_loss": history.test_loss[-1], "test_accuracy": history.test_accuracy[-1],
    }
    fig, _ = plots.plot_history(history)
    path = run.timed("plot_history", plots.save_figure, fig, run.tmp / HISTORY_PNG)
    print(f"Accuracy and loss per epoch: {run.final / path.name}")
    _evaluation_steps(run, clf, dataset)
    return clf


def _evaluation_steps(run: _Run, clf, dataset) -> None:
    """Per-class precision/recall/F1 and the confusion matrix of the trained model on the test set."""
    from instrumentid.evaluation import (
        evaluate_dataset,
        format_evaluation,
        write_evaluation,
    )

    _heading("Evaluation on the test set")
    result = run.timed("evaluate", evaluate_dataset, clf, dataset)
    print(format_evaluation(result))
    write_evaluation(result, run.tmp)
    run.record["evaluation"] = {"accuracy": result["accuracy"], "macro_f1": result["macro avg"]["f1-score"]}


def _sweep_steps(run: _Run, dataset, *, scaler, rates, epochs, batch_size, hidden_units, seed, progress):
    """Steps 8-9: a fresh network per learning rate (trained together), histories and figure saved."""
    from instrumentid import plots
    from instrumentid.training import save_sweep, sweep, sweep_to_csv

    _heading(f"Learning-rate sweep ({', '.join(f'{r:g}' for r in rates)}; {epochs} epochs each, fresh model each)")
    if scaler is None:
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(dataset.X_train)
    histories = run.timed(
        "sweep", sweep, scaler.transform(dataset.X_train), dataset.y_train, X_test=scaler.transform(dataset.X_test),
        y_test=dataset.y_test, rates=rates, n_classes=dataset.n_classes, epochs=epochs, batch_size=batch_size,
        hidden_units=hidden_units, random_state=seed, progress=progress,
    )
    for rate, h in histories.items():
        print(f"lr {rate:<8g} final training loss {h.train_loss[-1]:.4f}, training accuracy "
              f"{h.train_accuracy[-1]:.4f}, test accuracy {h.test_accuracy[-1]:.4f}")
    save_sweep(histories, run.tmp / SWEEP_JSON)
    sweep_to_csv(histories, run.tmp / SWEEP_CSV)
    run.record["sweep_final"] = {repr(r): {"train_loss": h.train_loss[-1], "test_accuracy": h.test_accuracy[-1]}
                                 for r, h in histories.items()}
    fig, _ = plots.plot_sweep(histories)
    path = run.timed("plot_sweep", plots.save_figure, fig, run.tmp / SWEEP_PNG)
    print(f"Training loss per learning rate: {run.final / path.name}")
    return histories


def _check_rates(rates) -> list:
    rates = [float(r) for r in rates]
    if not rates or any(not (r > 0 and np.isfinite(r)) for r in rates) or len(set(rates)) != len(rates):
        raise ParameterError(f"rates must be distinct positive numbers, got {rates!r}")
    return rates


# ----------------------------------------------------------------------------------------------- public API
def run_lab(data=None, *, out=None, audio=None, epochs=10, batch_size=128, hidden_units=256, lr=1e-3,
            rates=DEFAULT_RATES, sweep_epochs=20, sweep=True, seed=0, progress=True) -> Path:
    """Run the lab's steps in order, print what the lab prints, and save everything in one run folder.

    Parameters
    ----------
    data : str or Path, optional
        Folder of the four UIowa ``.npy`` files; default: the built-in data set (notes of General-MIDI SoundFonts).
    out : str or Path, optional
        Run folder to write (default ``runs/lab-YYYYmmdd-HHMMSS``). An existing run folder is replaced when the new
        run is complete; any other non-empty folder is refused.
    audio : str or Path, optional
        Recording for steps 1-2 (mel spectrogram, notes and per-note features); default: the lab's example, a
        soprano saxophone rendered from a SoundFont and saved as ``example.aiff`` in the run folder.
    epochs, batch_size, hidden_units, lr, seed
        Training settings of step 6 (the lab's: 10, 128, 256, 0.001).
    rates, sweep_epochs, sweep
        The learning-rate sweep of step 8 (the lab's: 0.1, 0.01, 0.001, 0.0001 for 20 epochs); ``sweep=False``
        skips steps 8-9.
    progress : bool
        Show progress bars (stderr).

    Returns
    -------
    Path
        The run folder.
    """
    rates = _check_rates(rates)
    settings = {"data": None if data is None else str(data), "audio": None if audio is None else str(audio),
                "epochs": epochs, "batch_size": batch_size, "hidden_units": hidden_units, "lr": lr,
                "rates": rates if sweep else [], "sweep_epochs": sweep_epochs if sweep else 0, "seed": seed,
                "activation": "sigmoid", "optimizer": "adam", "loss": "cross-entropy"}
    with _Run("lab", out, settings) as run:
        _audio_steps(run, audio)
        dataset = run.load_data(data, progress=progress)
        clf = _train_steps(run, dataset, epochs=epochs, batch_size=batch_size, hidden_units=hidden_units, lr=lr,
                           seed=seed, progress=progress)
        if sweep:
            _sweep_steps(run, dataset, scaler=clf.scaler_, rates=rates, epochs=sweep_epochs, batch_size=batch_size,
                         hidden_units=hidden_units, seed=seed, progress=progress)
    return run.final


def run_train(data=None, *, out=None, epochs=10, batch_size=128, hidden_units=256, lr=1e-3, seed=0,
              progress=True) -> Path:
    """Steps 3-7 alone: load, standardize, train, save history, model and figure to a run folder
    (default ``runs/train-YYYYmmdd-HHMMSS``). Parameters as in :func:`run_lab`; returns the run folder."""
    settings = {"data": None if data is None else str(data), "epochs": epochs, "batch_size": batch_size,
                "hidden_units": hidden_units, "lr": lr, "seed": seed, "activation": "sigmoid"}
    with _Run("train", out, settings) as run:
        dataset = run.load_data(data, progress=progress)
        _train_steps(run, dataset, epochs=epochs, batch_size=batch_size, hidden_units=hidden_units, lr=lr,
                     seed=seed, progress=progress)
    return run.final


def run_sweep(data=None, *, out=None, rates=DEFAULT_RATES, epochs=20, batch_size=128, hidden_units=256, seed=0,
              progress=True) -> Path:
    """Steps 3, 8 and 9 alone: the learning-rate sweep on standardized data, histories and figure in a run folder
    (default ``runs/sweep-YYYYmmdd-HHMMSS``). Parameters as in :func:`run_lab`; returns the run folder."""
    rates = _check_rates(rates)
    settings = {"data": None if data is None else str(data), "rates": rates, "sweep_epochs": epochs,
                "batch_size": batch_size, "hidden_units": hidden_units, "seed": seed, "activation": "sigmoid"}
    with _Run("sweep", out, settings) as run:
        dataset = run.load_data(data, progress=progress)
        _sweep_steps(run, dataset, scaler=None, rates=rates, epochs=epochs, batch_size=batch_size,
                     hidden_units=hidden_units, seed=seed, progress=progress)
    return run.final


def plot_run(run_dir) -> list:
    """Redraw a run folder's figures from its saved histories (``accuracy_loss.png``, ``sweep_loss.png``).

    Returns
    -------
    list of Path
        The figures written.
    """
    from instrumentid import plots
    from instrumentid.training import History, load_sweep

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ParameterError(f"run folder {str(run_dir)!r} does not exist or is not a folder")
    written = []
    if (run_dir / HISTORY_JSON).is_file():
        fig, _ = plots.plot_history(History.from_json(run_dir / HISTORY_JSON))
        written.append(plots.save_figure(fig, run_dir / HISTORY_PNG))
    if (run_dir / SWEEP_JSON).is_file():
        fig, _ = plots.plot_sweep(load_sweep(run_dir / SWEEP_JSON))
        written.append(plots.save_figure(fig, run_dir / SWEEP_PNG))
    if not written:
        raise ParameterError(f"{str(run_dir)!r} has no {HISTORY_JSON} or {SWEEP_JSON} to plot")
    return written
