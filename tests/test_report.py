"""The HTML report of a run folder: settings, histories, evaluation, model and embedded figures."""

import base64
import json
from html.parser import HTMLParser

import pytest

from instrumentid import cli
from instrumentid.evaluation import evaluate, write_evaluation
from instrumentid.history import History, save_sweep
from instrumentid.report import render_report, write_report


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.images, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def run_dir(small_classifier, feature_rows, tmp_path):
    X, names = feature_rows
    run = tmp_path / "lab-1"
    small_classifier.save(run / "model")
    (run / "run.json").write_text(json.dumps({
        "command": "lab", "settings": {"epochs": 3, "lr": 0.001, "batch_size": 32},
        "timings_s": {"train": 1.25, "sweep": 4.5}, "final": {"test_accuracy": 0.97},
    }))
    small_classifier.history_.to_json(run / "history.json")
    save_sweep({0.1: History([2.0, 1.0], [0.5, 0.6], lr=0.1), 0.01: History([2.5, 2.0], [0.3, 0.4], lr=0.01)},
               run / "sweep.json")
    write_evaluation(evaluate(small_classifier, X, names), run)
    return run


def test_report_holds_every_part(run_dir):
    path = write_report(run_dir)
    assert path == run_dir / "report.html"
    page = _Collect()
    page.feed(path.read_text())
    text = " ".join(page.text)
    for expected in ("Run", "lab", "settings", "epochs", "timings_s", "train", "1.25", "Training history", "train_loss",
                     "Learning-rate sweep", "0.01", "Evaluation", "violin", "macro avg", "Confusion matrix",
                     "Saved model", "weights sha256"):
        assert expected in text, expected
    assert len(page.images) == 1 and page.images[0].startswith("data:image/png;base64,")
    png = base64.b64decode(page.images[0].split(",", 1)[1])
    assert png == (run_dir / "confusion_matrix.png").read_bytes()
    assert "table" in page.tags


def test_report_escapes_html(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"note": "<script>alert(1)</script>"}))
    html = render_report(tmp_path)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_report_of_a_partial_run_and_custom_out(tmp_path):
    (tmp_path / "history.json").write_text(History([1.0, 0.5], [0.4, 0.8], [1.1, 0.7], [0.3, 0.7]).to_json())
    out = write_report(tmp_path, out=tmp_path / "sub" / "r.html")
    assert out.is_file() and not (tmp_path / "report.html").exists()
    text = out.read_text()
    assert "test_accuracy" in text and "Evaluation" not in text


def test_cli_report(run_dir, tmp_path, capsys):
    assert cli.main(["report", str(run_dir), "--out", str(tmp_path / "r.html")]) == 0
    assert "r.html" in capsys.readouterr().out
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_report_shows_calibration_and_sources(small_classifier, feature_rows, tmp_path):
    import copy

    X, names = feature_rows
    run = tmp_path / "run"
    copy.deepcopy(small_classifier).set_temperature(1.8, fitted_on="held-out sources").save(run / "model")
    result = evaluate(small_classifier, X, names)
    by_source = {"column": "source", "split": "test", "sources": {"FluidR3": result}}
    write_evaluation(result, run, extra={"by_source": by_source})
    page = render_report(run)
    assert "expected calibration error" in page and "FluidR3" in page
    assert "temperature" in page and "1.8" in page and "held-out sources" in page
