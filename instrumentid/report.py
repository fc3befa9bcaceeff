"""A run folder's report: one self-contained HTML file (settings, timings, histories, evaluation, figures).

Everything the page shows is read from the run folder written by :mod:`instrumentid.lab` (``run.json``,
``history.json``, ``sweep.json``, ``evaluation.json``, ``model/model.json`` and the ``*.png`` figures); figures
are embedded as base64 PNG, so the single file can be mailed or archived. Parts that are absent are left out.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from instrumentid import runfolder as rf
from instrumentid.errors import ParameterError
from instrumentid.persistence import CONFIG_FILE
from instrumentid.util import atomic_write_text, read_json

__all__ = ["render_report", "write_report"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td.key, th.key { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
.big { font-size: 1.3em; font-weight: bold; }
"""


def _fmt(value) -> str:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e5 else f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return "" if value is None else str(value)


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


def _table(header, rows, *, key_columns=1) -> str:
    def cell(tag, i, value):
        cls = ' class="key"' if i < key_columns else ""
        return f"<{tag}{cls}>{html.escape(_fmt(value))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _run_section(run: dict) -> str:
    """``run.json``: its plain values in one table, then one table per group (settings, timings_s, data...)."""
    plain = [(k, v) for k, v in run.items() if not (isinstance(v, dict) and v)]
    parts = ["<h2>Run</h2>", _table(["", "value"], plain)] if plain else []
    for key, value in run.items():
        if isinstance(value, dict) and value:
            parts += [f"<h3>{html.escape(str(key))}</h3>", _table(["", "value"], _flatten(value))]
    return "\n".join(parts)


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


def _history_section(data) -> str:
    columns = _history_columns(data)
    if not columns:
        return ""
    n = len(next(iter(columns.values())))
    names = [k for k in columns if k != "epoch"]
    epochs = columns.get("epoch", list(range(1, n + 1)))
    final = [(name, columns[name][-1]) for name in names if columns[name][-1] is not None]
    parts = ["<h2>Final epoch</h2>", _table(["metric", "value"], final)]
    rows = [[epochs[i]] + [columns[name][i] for name in names] for i in range(n)]
    parts += ["<h2>Training history</h2>", _table(["epoch"] + names, rows)]
    return "\n".join(parts)


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
    return "<h2>Learning-rate sweep (last epoch)</h2>\n" + _table(["learning rate"] + names, rows)


def _evaluation_section(ev) -> str:
    names = ev.get("class_names") or list(ev.get("per_class", {}))
    parts = ["<h2>Evaluation</h2>",
             (f'<p class="big">accuracy {html.escape(_fmt(ev.get("accuracy")))}'
             f' on {html.escape(_fmt(ev.get("n_samples")))} rows</p>')]
    if ev.get("expected_calibration_error") is not None:
        parts.append(f'<p>expected calibration error {html.escape(_fmt(ev["expected_calibration_error"]))} '
                     f'(temperature {html.escape(_fmt(ev.get("temperature", 1.0)))})</p>')
    metrics = ["precision", "recall", "f1-score", "support"]
    per_class = ev.get("per_class", {})
    rows = [[name] + [per_class[name].get(m) for m in metrics] for name in names if name in per_class]
    rows += [[key] + [ev[key].get(m) for m in metrics] for key in ("macro avg", "weighted avg") if key in ev]
    if rows:
        parts.append(_table(["class"] + metrics, rows))
    cm = ev.get("confusion_matrix")
    if cm and len(cm) == len(names):
        parts.append("<p>Confusion matrix (rows: true class, columns: predicted class)</p>")
        rows = [[n] + list(r) for n, r in zip(names, cm, strict=True)]
        parts.append(_table(["true \\ predicted"] + list(names), rows))
    by_source = ev.get("by_source")
    if isinstance(by_source, dict) and isinstance(by_source.get("sources"), dict):
        rows = [[name, r.get("n_samples"), r.get("accuracy"), r.get("expected_calibration_error")]
                for name, r in by_source["sources"].items() if isinstance(r, dict)]
        parts += [f"<h3>By {html.escape(str(by_source.get('column', 'source')))}</h3>",
                  _table(["source", "rows", "accuracy", "expected calibration error"], rows)]
    return "\n".join(parts)


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
    rows += [(f"version {k}", v) for k, v in (config.get("versions") or {}).items()]
    return "<h2>Saved model</h2>\n" + _table(["", ""], rows)


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = html.escape(path.name)
    return f'<figure><img alt="{name}" src="data:image/png;base64,{data}"><figcaption>{name}</figcaption></figure>'


def render_report(run_dir) -> str:
    """The HTML text of a run folder's report (see :func:`write_report`)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ParameterError(f"run folder {str(run_dir)!r} does not exist or is not a folder")
    known = [rf.RUN_JSON, rf.HISTORY_JSON, rf.SWEEP_JSON, rf.EVALUATION_JSON]
    found = {name: read_json(run_dir / name) for name in known if (run_dir / name).is_file()}
    figures = sorted(run_dir.glob("*.png"))
    model_json = run_dir / rf.MODEL_DIR / CONFIG_FILE
    if not found and not figures and not model_json.is_file():
        raise ParameterError(
            f"{str(run_dir)!r} is not a run folder: none of {', '.join(known)}, {rf.MODEL_DIR}/{CONFIG_FILE} or any "
            ".png figure in it"
        )
    title = f"instrumentid run {run_dir.resolve().name}"
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if isinstance(found.get(rf.RUN_JSON), dict):
        parts.append(_run_section(found[rf.RUN_JSON]))
    if rf.HISTORY_JSON in found:
        parts.append(_history_section(found[rf.HISTORY_JSON]))
    if rf.SWEEP_JSON in found:
        parts.append(_sweep_section(found[rf.SWEEP_JSON]))
    if isinstance(found.get(rf.EVALUATION_JSON), dict):
        parts.append(_evaluation_section(found[rf.EVALUATION_JSON]))
    if model_json.is_file():
        config = read_json(model_json, what="a model config")
        if isinstance(config, dict):
            parts.append(_model_section(config))
    if figures:
        parts += ["<h2>Figures</h2>"] + [_figure(f) for f in figures]
    body = "\n".join(p for p in parts if p)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n")


def write_report(run_dir, *, out=None) -> Path:
    """Write a self-contained HTML report of a run folder.

    Parameters
    ----------
    run_dir : str or Path
        Run folder written by ``instrumentid lab``, ``train`` or ``sweep``.
    out : str or Path, optional
        HTML file to write (default ``run_dir/report.html``); written to a temporary file and renamed.

    Returns
    -------
    Path
        The HTML file.

    Raises
    ------
    ParameterError
        ``run_dir`` is not a run folder or holds unreadable JSON.
    """
    text = render_report(run_dir)
    out = Path(run_dir) / rf.REPORT_HTML if out is None else Path(out)
    if out.is_dir():
        raise ParameterError(f"report output must be a file path, got the folder {str(out)!r}")
    return atomic_write_text(out, text)
