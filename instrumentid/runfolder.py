"""The files of a run folder, named once.

They are written by :mod:`instrumentid.lab` and read by the report, the evaluation and the CLI. A run folder
(``instrumentid lab``, ``train`` or ``sweep``) holds::

    run.json              settings, versions, timings per step, final accuracies, data path, class names
    example.aiff          step 1's recording when none is given (the lab's soprano saxophone)
    mel_spectrogram.png   step 1
    notes.csv             step 2: one row per note (start_s, end_s, f0_hz, midi, name)
    note_features.npy     step 2: float32 (n_notes, n_features)
    history.json/.csv     per-epoch train/test loss and accuracy
    accuracy_loss.png     accuracy and loss per epoch
    model/                the trained classifier (model.safetensors + model.json)
    evaluation.json       per-class precision/recall/F1 and the confusion matrix on the test set
    confusion_matrix.png  the same, drawn
    sweep.json/.csv       one history per learning rate
    sweep_loss.png        training loss per learning rate
    report.html           everything above on one page

Examples
--------
>>> from pathlib import Path
>>> Path("runs/lab") / HISTORY_JSON
PosixPath('runs/lab/history.json')
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ACCURACY_LOSS_PNG",
    "CONFUSION_MATRIX_PNG",
    "EVALUATION_JSON",
    "EXAMPLE_AUDIO",
    "HISTORY_CSV",
    "HISTORY_JSON",
    "MODEL_DIR",
    "NOTES_CSV",
    "NOTE_FEATURES_NPY",
    "REPORT_HTML",
    "RUN_JSON",
    "SPECTROGRAM_PNG",
    "SWEEP_CSV",
    "SWEEP_JSON",
    "SWEEP_LOSS_PNG",
    "is_run_folder",
]

RUN_JSON = "run.json"
EXAMPLE_AUDIO = "example.aiff"
SPECTROGRAM_PNG = "mel_spectrogram.png"
NOTES_CSV = "notes.csv"
NOTE_FEATURES_NPY = "note_features.npy"
HISTORY_JSON = "history.json"
HISTORY_CSV = "history.csv"
ACCURACY_LOSS_PNG = "accuracy_loss.png"
MODEL_DIR = "model"
EVALUATION_JSON = "evaluation.json"
CONFUSION_MATRIX_PNG = "confusion_matrix.png"
SWEEP_JSON = "sweep.json"
SWEEP_CSV = "sweep.csv"
SWEEP_LOSS_PNG = "sweep_loss.png"
REPORT_HTML = "report.html"


def is_run_folder(path) -> bool:
    """True when ``path`` holds a ``run.json``, i.e. it was written by ``instrumentid lab``, ``train`` or ``sweep``."""
    return (Path(path) / RUN_JSON).is_file()
