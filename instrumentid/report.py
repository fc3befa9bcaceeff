"""A run folder's report: one self-contained HTML page that opens with the result.

The page reads, in order: the run's name; the headline (test accuracy, per-class precision/recall/F1, the confusion
matrix); the figures (accuracy and loss, the learning-rate sweep, the mel spectrogram with its notes labelled, the
confusion matrix); then the details (training history, sweep, saved model, settings, data, versions, timings).

Everything is read from the run folder written by :mod:`instrumentid.lab` (``run.json``, ``history.json``,
``sweep.json``, ``evaluation.json``, ``notes.csv``, ``model/model.json`` and the ``*.png`` figures). Figures are
embedded as base64 PNG data URIs and the style sheet is inline, so the single file can be mailed, archived, read on a
phone (viewport meta, fluid width, tables that scroll sideways) and printed (a print style sheet). Parts that are
absent are left out.
"""

from __future__ import annotations

import base64
import csv
import html
import math
import re
from pathlib import Path

from instrumentid import runfolder as rf
from instrumentid.errors import InstrumentIdError, ParameterError
from instrumentid.persistence import CONFIG_FILE
from instrumentid.util import atomic_write_text, read_json

__all__ = ["render_report", "run_name", "write_report"]

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.45; color: #1d1d1f;
       margin: 0 auto; padding: 1em 1.2em 3em; max-width: 60em; }
header { border-bottom: 2px solid #1d1d1f; margin-bottom: 1em; }
h1 { font-size: 1.7em; margin: 0.2em 0; overflow-wrap: anywhere; }
h2 { font-size: 1.3em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.3em; }
p.meta { color: #555; margin: 0 0 0.6em; }
nav { font-size: 0.95em; margin-bottom: 0.6em; } nav a { margin-right: 1em; }
.headline { font-size: 1.15em; margin: 0.6em 0; }
.headline .big { font-size: 2.2em; font-weight: 700; line-height: 1.1; display: block; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td.key, th.key { text-align: left; white-space: normal; }
td.hit { background: #dbe8f7; font-weight: 600; }
figure { margin: 1em 0 1.6em; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
@media (max-width: 40em) {
  body { padding: 0.6em 0.7em 2em; font-size: 15px; }
  th, td { padding: 0.2em 0.35em; }
  .headline .big { font-size: 1.9em; }
}
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav { display: none; }
  .scroll { overflow: visible; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  table, figure { break-inside: avoid; page-break-inside: avoid; }
  figure img { max-height: 45vh; width: auto; border: none; }
  a { color: inherit; text-decoration: none; }
}
"""

#: Figures of a run folder in the order the page shows them, with their captions.
_FIGURES = {
    rf.ACCURACY_LOSS_PNG: "Accuracy and loss per epoch, training and test set (step 7).",
    rf.SWEEP_LOSS_PNG: "Training loss per epoch for every learning rate of the sweep (step 9).",
    rf.SPECTROGRAM_PNG: "Mel spectrogram of the recording (step 1).",
    rf.CONFUSION_MATRIX_PNG: "Confusion matrix on the test set: rows are the true class, columns the predicted one.",
}

#: A folder being written by :func:`instrumentid.util.atomic_folder`: ``.{final name}.{pid}.{random}.tmp``.
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.\d+\.[^.]+\.tmp")


def run_name(run_dir) -> str:
    """The name of a run folder, also while it is being written under its temporary name.

    Parameters
    ----------
    run_dir : str or Path

    Returns
    -------
    str
        The folder's name; for a temporary folder of :func:`~instrumentid.util.atomic_folder`
        (``.lab-1.1234.x8k2p0qz.tmp``), the name it gets when it is complete (``lab-1``).

    Examples
    --------
    >>> run_name("runs/.lab-20250101-120000.4242.ab_cd123.tmp")
    'lab-20250101-120000'
    """
    name = Path(run_dir).resolve().name
    match = _TEMPORARY.fullmatch(name)
    return match.group("name") if match else name


def _fmt(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e5 else f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return "" if value is None else str(value)


def _esc(value) -> str:
    return html.escape(_fmt(value))


def _flatten(data, prefix="") -> list:
    """Nested dicts as ``[(dotted.key, value)]``."""
    rows = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows.extend(_flatten(value, prefix=f"{name}."))
        else:
            rows.append((name, value))
    return rows


def _table(header, rows, *, key_columns=1, highlight_diagonal=False) -> str:
    """An HTML table in a sideways-scrolling box; the first ``key_columns`` columns are left-aligned labels."""
    def cell(tag, i, value, hit=False):
        cls = "key" if i < key_columns else ("hit" if hit else "")
        return f"<{tag}{f' class={chr(34)}{cls}{chr(34)}' if cls else ''}>{_esc(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v, highlight_diagonal and i - key_columns == r) for i, v in enumerate(row))
        + "</tr>" for r, row in enumerate(rows))
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _history_columns(data) -> dict:
    """Per-epoch series ``{name: list}`` from a saved history (dict of lists, or list of per-epoch dicts)."""
    if isinstance(data, dict) and isinstance(data.get("epochs"), list) and data["epochs"] and \
            isinstance(data["epochs"][0], dict):
        data = data["epochs"]
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        keys = [k for k in data[0]]
        return {k: [row.get(k) for row in data] for k in keys}
    if isinstance(data, dict):
        series = {k: v for k, v in data.items() if isinstance(v, list) and v and not isinstance(v[0], (dict, list))}
        lengths = {len(v) for v in series.values()}
        if len(lengths) == 1:
            return series
    return {}


# ----------------------------------------------------------------------------------------------- the headline
def _test_accuracy(found: dict):
    """``(accuracy, n_rows or None, where)`` of the run's test set, or None when it has none."""
    ev = found.get(rf.EVALUATION_JSON)
    if isinstance(ev, dict) and isinstance(ev.get("accuracy"), (int, float)):
        return float(ev["accuracy"]), ev.get("n_samples"), "evaluation"
    final = (found.get(rf.RUN_JSON) or {}).get("final") if isinstance(found.get(rf.RUN_JSON), dict) else None
    if isinstance(final, dict) and isinstance(final.get("test_accuracy"), (int, float)):
        return float(final["test_accuracy"]), None, "run"
    columns = _history_columns(found.get(rf.HISTORY_JSON))
    series = [v for v in columns.get("test_accuracy", []) if v is not None]
    if series:
        return float(series[-1]), None, "history"
    return None


def _headline(found: dict) -> str:
    """Test accuracy, then per-class precision/recall/F1 and the confusion matrix (from ``evaluation.json``)."""
    accuracy = _test_accuracy(found)
    ev = found.get(rf.EVALUATION_JSON) if isinstance(found.get(rf.EVALUATION_JSON), dict) else None
    if accuracy is None and ev is None:
        return ""
    parts = ['<section id="result">', "<h2>Result</h2>"]
    if accuracy is not None:
        value, n_rows, _ = accuracy
        rows = f" on {n_rows:,} test rows" if isinstance(n_rows, int) else ""
        parts.append(f'<p class="headline"><span class="big">{value:.1%}</span>test accuracy ({_esc(value)})'
                     f"{rows}</p>")
    if ev is not None:
        facts = []
        if isinstance(ev.get("macro avg"), dict) and ev["macro avg"].get("f1-score") is not None:
            facts.append(f"macro F1 {_esc(ev['macro avg']['f1-score'])}")
        if ev.get("expected_calibration_error") is not None:
            facts.append(f"expected calibration error {_esc(ev['expected_calibration_error'])} "
                         f"(temperature {_esc(ev.get('temperature', 1.0))})")
        if facts:
            parts.append(f"<p>{'; '.join(facts)}</p>")
        parts.append(_evaluation_tables(ev))
    parts.append("</section>")
    return "\n".join(parts)


def _evaluation_tables(ev: dict) -> str:
    names = ev.get("class_names") or list(ev.get("per_class", {}))
    metrics = ["precision", "recall", "f1-score", "support"]
    per_class = ev.get("per_class", {})
    parts = []
    rows = [[name] + [per_class[name].get(m) for m in metrics] for name in names if name in per_class]
    rows += [[key] + [ev[key].get(m) for m in metrics] for key in ("macro avg", "weighted avg")
             if isinstance(ev.get(key), dict)]
    if rows:
        parts += ["<h3>Per class</h3>", _table(["class"] + metrics, rows)]
    cm = ev.get("confusion_matrix")
    if cm and len(cm) == len(names):
        parts.append("<h3>Confusion matrix</h3><p>Rows: the true class; columns: the predicted class.</p>")
        rows = [[n] + list(r) for n, r in zip(names, cm, strict=True)]
        parts.append(_table(["true \\ predicted"] + list(names), rows, highlight_diagonal=True))
    by_source = ev.get("by_source")
    if isinstance(by_source, dict) and isinstance(by_source.get("sources"), dict):
        rows = [[name, r.get("n_samples"), r.get("accuracy"), r.get("expected_calibration_error")]
                for name, r in by_source["sources"].items() if isinstance(r, dict)]
        parts += [f"<h3>By {_esc(by_source.get('column', 'source'))}</h3>",
                  _table(["source", "rows", "accuracy", "expected calibration error"], rows)]
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------------- the figures
def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(png: bytes, *, alt: str, caption: str) -> str:
    return (f'<figure><img alt="{html.escape(alt)}" src="{_data_uri(png)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _read_notes(run_dir: Path) -> list:
    """The rows of ``notes.csv`` (step 2), or [] when there is none or it cannot be read."""
    path = run_dir / rf.NOTES_CSV
    if not path.is_file():
        return []
    try:
        with open(path, newline="") as fh:
            return [row for row in csv.DictReader(fh) if {"start_s", "end_s", "f0_hz", "midi"} <= row.keys()]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _labelled_spectrogram(run_dir: Path, run: dict, notes: list) -> bytes | None:
    """The mel spectrogram of the run's recording with every note of ``notes.csv`` boxed and named, as PNG bytes.

    None when the recording is no longer readable (then the page shows the plain ``mel_spectrogram.png``).
    """
    import io

    from instrumentid import plots
    from instrumentid.analysis import Note, mel_spectrogram

    audio = run.get("audio")
    recorded = audio.get("path") if isinstance(audio, dict) else None
    candidates = [run_dir / rf.EXAMPLE_AUDIO] + ([Path(recorded)] if recorded else [])
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        return None
    try:
        items = [Note(float(n["start_s"]), float(n["end_s"]), float(n["f0_hz"]), int(n["midi"])) for n in notes]
        spec = mel_spectrogram(path)
    except (InstrumentIdError, ValueError, OSError):
        return None
    fig, _ = plots.plot_notes(spec, predictions=items, title=f"Mel spectrogram with its notes: {path.name}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


def _figures(run_dir: Path, run: dict) -> str:
    pngs = {p.name: p for p in sorted(run_dir.glob("*.png"))}
    notes = _read_notes(run_dir)
    parts = []
    for name in list(_FIGURES) + [n for n in pngs if n not in _FIGURES]:
        if name == rf.SPECTROGRAM_PNG and notes:
            labelled = _labelled_spectrogram(run_dir, run, notes)
            png = labelled if labelled is not None else pngs[name].read_bytes() if name in pngs else None
            if png is not None:
                caption = _FIGURES[name] + (" Every note found (step 2) is boxed and named." if labelled else "")
                parts.append(_figure(png, alt=name, caption=caption))
            rows = [[i, n["start_s"], n["end_s"], n.get("name", ""), n["f0_hz"]] for i, n in enumerate(notes, 1)]
            parts += ["<h3>Notes of the recording</h3>", _table(["#", "start_s", "end_s", "note", "f0_hz"], rows)]
        elif name in pngs:
            parts.append(_figure(pngs[name].read_bytes(), alt=name, caption=_FIGURES.get(name, name)))
    if not parts:
        return ""
    return '<section id="figures">\n<h2>Figures</h2>\n' + "\n".join(parts) + "\n</section>"


# ----------------------------------------------------------------------------------------------- the details
def _history_section(data) -> str:
    columns = _history_columns(data)
    if not columns:
        return ""
    n = len(next(iter(columns.values())))
    names = [k for k in columns if k != "epoch"]
    epochs = columns.get("epoch", list(range(1, n + 1)))
    final = [(name, columns[name][-1]) for name in names if columns[name][-1] is not None]
    rows = [[epochs[i]] + [columns[name][i] for name in names] for i in range(n)]
    return "\n".join(["<h3>Final epoch</h3>", _table(["metric", "value"], final),
                      "<h3>Training history</h3>", _table(["epoch"] + names, rows)])


def _sweep_section(data) -> str:
    if isinstance(data, dict) and isinstance(data.get("histories"), dict):
        data = data["histories"]
    if not isinstance(data, dict):
        return ""
    rows: list = []
    names: list = []
    for rate, history in data.items():
        columns = _history_columns(history)
        if not columns:
            continue
        names = names or [k for k in columns if k != "epoch"]
        rows.append([rate] + [columns.get(name, [None])[-1] for name in names])
    if not rows:
        return ""
    return "<h3>Learning-rate sweep (last epoch)</h3>\n" + _table(["learning rate"] + names, rows)


def _model_section(config) -> str:
    arch = config.get("architecture", {})
    rows = [("classes", config.get("classes")), ("features", arch.get("n_features")),
            ("hidden units", arch.get("hidden_units")), ("activation", arch.get("activation")),
            ("weights sha256", config.get("weights_sha256"))]
    calibration = config.get("calibration")
    if isinstance(calibration, dict):
        rows.insert(4, ("temperature", calibration.get("temperature")))
        if calibration.get("fitted_on"):
            rows.insert(5, ("calibrated on", calibration.get("fitted_on")))
    if arch.get("branches"):
        rows.insert(2, ("branches (features per network)", arch.get("branches")))
    rows += [(f"version {k}", v) for k, v in (config.get("versions") or {}).items()]
    return "<h3>Saved model</h3>\n" + _table(["", ""], rows)


#: ``run.json``'s groups in the order of the details, with their headings; other keys follow.
_RUN_GROUPS = {"settings": "Settings", "data": "Data", "audio": "Recording", "final": "Final figures",
               "evaluation": "Evaluation summary", "sweep_final": "Sweep, last epoch", "versions": "Versions",
               "timings_s": "Timings (seconds)"}


def _run_tables(run: dict) -> str:
    """``run.json``: its plain values in one table, then one table per group (settings, data, versions, timings...)."""
    plain = [(k, v) for k, v in run.items() if not (isinstance(v, dict) and v)]
    parts = ["<h3>Run</h3>", _table(["", "value"], plain)] if plain else []
    groups = [k for k in _RUN_GROUPS if isinstance(run.get(k), dict) and run[k]]
    groups += [k for k, v in run.items() if isinstance(v, dict) and v and k not in _RUN_GROUPS]
    for key in groups:
        heading = _RUN_GROUPS.get(key, str(key))
        parts += [f'<h3 id="{html.escape(str(key))}">{html.escape(heading)} <small>({html.escape(str(key))})'
                  "</small></h3>", _table(["", "value"], _flatten(run[key]))]
    return "\n".join(parts)


def _details(run_dir: Path, found: dict) -> str:
    parts = []
    if rf.HISTORY_JSON in found:
        parts.append(_history_section(found[rf.HISTORY_JSON]))
    if rf.SWEEP_JSON in found:
        parts.append(_sweep_section(found[rf.SWEEP_JSON]))
    model_json = run_dir / rf.MODEL_DIR / CONFIG_FILE
    if model_json.is_file():
        from instrumentid.inference import read_model_facts

        read_model_facts(model_json)  # every check of loading it: an edited or tampered model is not reported as run
        config = read_json(model_json, what="a model config")
        if isinstance(config, dict):
            parts.append(_model_section(config))
    if isinstance(found.get(rf.RUN_JSON), dict):
        parts.append(_run_tables(found[rf.RUN_JSON]))
    parts = [p for p in parts if p]
    if not parts:
        return ""
    return '<section id="details">\n<h2>Details</h2>\n' + "\n".join(parts) + "\n</section>"


# ----------------------------------------------------------------------------------------------- public API
def render_report(run_dir, *, name: str | None = None) -> str:
    """The HTML text of a run folder's report (see :func:`write_report`)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ParameterError(f"run folder {str(run_dir)!r} does not exist or is not a folder")
    known = [rf.RUN_JSON, rf.HISTORY_JSON, rf.SWEEP_JSON, rf.EVALUATION_JSON]
    found = {key: read_json(run_dir / key) for key in known if (run_dir / key).is_file()}
    model_json = run_dir / rf.MODEL_DIR / CONFIG_FILE
    if not found and not any(run_dir.glob("*.png")) and not model_json.is_file():
        raise ParameterError(
            f"{str(run_dir)!r} is not a run folder: none of {', '.join(known)}, {rf.MODEL_DIR}/{CONFIG_FILE} or any "
            ".png figure in it"
        )
    name = run_name(run_dir) if name is None else str(name)
    run = found[rf.RUN_JSON] if isinstance(found.get(rf.RUN_JSON), dict) else {}
    sections = [_headline(found), _figures(run_dir, run), _details(run_dir, found)]
    links = [f'<a href="#{key}">{label}</a>' for key, label in (("result", "Result"), ("figures", "Figures"),
                                                                ("details", "Details"))
             if f'<section id="{key}">' in "".join(sections)]
    meta = " · ".join(html.escape(str(x)) for x in (
        f"instrumentid {run['command']} run" if run.get("command") else "instrumentid run",
        (run.get("versions") or {}).get("instrumentid") and f"version {run['versions']['instrumentid']}",
        isinstance(run.get("timings_s"), dict) and run["timings_s"].get("total") is not None
        and f"{_fmt(run['timings_s']['total'])} s in all",
    ) if x)
    header = (f"<header><h1>{html.escape(name)}</h1><p class=\"meta\">{meta}</p>"
              + (f"<nav>{''.join(links)}</nav>" if links else "") + "</header>")
    body = "\n".join([header] + [s for s in sections if s])
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(name)} · instrumentid report</title><style>{_CSS}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def write_report(run_dir, *, out=None, name: str | None = None) -> Path:
    """Write a self-contained HTML report of a run folder.

    Parameters
    ----------
    run_dir : str or Path
        Run folder written by ``instrumentid lab``, ``train`` or ``sweep`` (also while it is still being written
        under its temporary name).
    out : str or Path, optional
        HTML file to write (default ``run_dir/report.html``); written to a temporary file and renamed.
    name : str, optional
        The run's name, the page's title (default: :func:`run_name` of ``run_dir``).

    Returns
    -------
    Path
        The HTML file.

    Raises
    ------
    ParameterError
        ``run_dir`` is not a run folder or holds unreadable JSON.
    ModelFileError
        The run's ``model/`` fails the checks of loading it (edited, tampered with, truncated).
    """
    text = render_report(run_dir, name=name)
    out = Path(run_dir) / rf.REPORT_HTML if out is None else Path(out)
    if out.is_dir():
        raise ParameterError(f"report output must be a file path, got the folder {str(out)!r}")
    return atomic_write_text(out, text)
