"""The HTML report of a run folder: the run's name, the headline first, then figures, then settings and timings."""

import base64
import json
import re
from html.parser import HTMLParser

import pytest

from instrumentid import cli
from instrumentid.errors import ModelFileError
from instrumentid.evaluation import evaluate, write_evaluation
from instrumentid.history import History, save_sweep
from instrumentid.report import render_report, run_name, write_report
from instrumentid.util import atomic_folder


class _Collect(HTMLParser):
    """Tags, images, every URL-valued attribute, the title, the h1, the section ids and the text of a page."""

    def __init__(self):
        super().__init__()
        self.tags, self.images, self.urls, self.text, self.sections, self.meta = [], [], [], [], [], []
        self.title = self.h1 = ""
        self._in = None
        self._style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.urls += [value for key, value in attrs.items() if key in ("src", "href", "srcset", "data", "poster")]
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "section":
            self.sections.append(attrs.get("id"))
        if tag == "meta":
            self.meta.append(attrs)
        if tag in ("title", "h1"):
            self._in = tag
        self._style = tag == "style"

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None
        if tag == "style":
            self._style = False

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in == "h1":
            self.h1 += data
        if not self._style:
            self.text.append(data)


def _page(text: str) -> _Collect:
    page = _Collect()
    page.feed(text)
    return page


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
    page = _page(path.read_text())
    text = " ".join(page.text)
    for expected in ("Result", "test accuracy", "Run", "lab", "settings", "epochs", "timings_s", "train", "1.25",
                     "Training history", "train_loss", "Learning-rate sweep", "0.01", "violin", "macro avg",
                     "Per class", "Confusion matrix", "Saved model", "weights sha256"):
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
    assert "test_accuracy" in text and "Per class" not in text
    assert "70.0%" in text  # the headline: the history's last test accuracy


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
    assert "branches" not in page


def test_report_names_the_branches_of_a_branch_model(feature_rows, tmp_path):
    from instrumentid.classifier import InstrumentClassifier

    X, names = feature_rows
    run = tmp_path / "run"
    InstrumentClassifier(hidden_units=8, epochs=1, branches=(100, 20)).fit(X, names).save(run / "model")
    page = render_report(run)
    assert "branches (features per network)</td><td>100, 20</td>" in page


@pytest.mark.parametrize("edit", ["plain", "re-saved"])
def test_report_refuses_a_tampered_model(feature_rows, tmp_path, edit, capsys):
    """The report showed whatever branches an edited model.json claimed, as the run's model."""
    from instrumentid import persistence
    from instrumentid.classifier import InstrumentClassifier

    X, names = feature_rows
    run = tmp_path / "run"
    model = InstrumentClassifier(hidden_units=8, epochs=1, branches=(100, 20)).fit(X, names).save(run / "model")
    files = persistence.read_model(model)
    outside = () if edit == "plain" else ("format", "format_version", "tensors", "weights_sha256", "weights_bytes")
    config = {k: v for k, v in files.config.items() if k not in outside}
    config["architecture"]["branches"] = [60, 60]
    if edit == "plain":
        (model / "model.json").write_text(json.dumps(config))
    else:
        persistence.write_model(model, config, files.tensors)
    with pytest.raises(ModelFileError, match=r"model\.json: "):
        render_report(run)
    assert cli.main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "model.json" in err and err.count("\n") == 1 and not (run / "report.html").exists()


def test_report_opens_with_the_result(run_dir):
    """Issue 17: the run's name, then the headline (accuracy, per-class table, confusion matrix), then the figures,
    then settings, versions and timings; before, the page opened with the settings and timings tables."""
    html = render_report(run_dir)
    page = _page(html)
    assert page.h1 == "lab-1" and page.title.startswith("lab-1")
    assert page.sections == ["result", "figures", "details"]
    order = [html.index(s) for s in ('<section id="result">', "test accuracy", "Per class", "Confusion matrix",
                                     '<section id="figures">', "<img", '<section id="details">', "Settings",
                                     "Timings")]
    assert order == sorted(order)
    assert re.search(r'class="big">\d+\.\d%<', html)  # the test accuracy, first and large


def test_report_title_is_the_run_name_while_the_folder_is_written(tmp_path):
    """The lab writes the report inside atomic_folder's temporary folder (".lab-...tmp"); the page names the run."""
    final = tmp_path / "lab-20250101-120000"
    with atomic_folder(final) as tmp:
        assert tmp.name != final.name and tmp.name.startswith(".")
        assert run_name(tmp) == final.name
        (tmp / "run.json").write_text(json.dumps({"command": "lab"}))
        write_report(tmp)
    page = _page((final / "report.html").read_text())
    assert page.h1 == final.name and final.name in page.title
    assert ".tmp" not in page.title and ".tmp" not in page.h1
    assert render_report(final, name="my run").count("my run") >= 2  # title and heading


def test_report_of_a_real_run_is_named_after_it(uiowa_dir, tmp_path):
    from instrumentid.lab import run_train

    run = run_train(uiowa_dir, out=tmp_path / "train-small", epochs=2, progress=False)
    page = _page((run / "report.html").read_text())
    assert page.h1 == "train-small" and page.title.startswith("train-small")
    assert page.sections[0] == "result"


def test_report_is_self_contained_and_fits_a_phone(run_dir):
    html = render_report(run_dir)
    page = _page(html)
    assert page.urls and all(url.startswith(("data:image/png;base64,", "#")) for url in page.urls)
    assert "link" not in page.tags and "script" not in page.tags and "iframe" not in page.tags
    without_images = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert not re.search(r"(https?:)?//|@import|url\(", without_images)
    viewport = [m for m in page.meta if m.get("name") == "viewport"]
    assert viewport and "width=device-width" in viewport[0]["content"]
    assert "max-width" in html and "@media print" in html and "overflow-x: auto" in html


def _add_recording(run_dir) -> None:
    """Step 1-2's files in a run folder: the recording (a C5 from 0.2 s) and notes.csv naming its note."""
    import numpy as np
    import soundfile as sf

    from instrumentid.settings import SR

    t = np.arange(SR) / SR
    y = (0.3 * np.sin(2 * np.pi * 523.25 * t) * (t > 0.2)).astype(np.float32)
    sf.write(str(run_dir / "example.aiff"), y, SR, format="AIFF")
    (run_dir / "notes.csv").write_text("start_s,end_s,f0_hz,midi,name\n0.200,0.950,523.3,72,C5\n")


def test_report_labels_the_notes_of_the_recording(run_dir):
    """With notes.csv and the recording in the run folder, the spectrogram is redrawn with its notes boxed."""
    _add_recording(run_dir)
    page = _page(render_report(run_dir))
    assert any("Every note found" in t for t in page.text) and "C5" in page.text
    assert len(page.images) == 2  # the labelled spectrogram and confusion_matrix.png
    (run_dir / "example.aiff").unlink()  # the recording is gone: the notes are still listed
    page = _page(render_report(run_dir))
    assert len(page.images) == 1 and "C5" in page.text and not any("Every note found" in t for t in page.text)


def test_report_in_a_browser(run_dir, chromium, tmp_path):
    """Issue 17: the report as headless Chromium lays it out: titled with the run's name, the result first and visible
    without scrolling, then figures, then details; every figure drawn, nothing loaded from elsewhere, no sideways
    scrolling on a phone's width; a screenshot in the test's folder."""
    from headless import WINDOW, external_resources, in_viewport
    from selenium.webdriver.common.by import By

    from instrumentid.lab import plot_run

    _add_recording(run_dir)
    plot_run(run_dir)  # accuracy_loss.png, sweep_loss.png
    chromium.get(write_report(run_dir).as_uri())
    assert chromium.title.startswith(run_name(run_dir)) and chromium.find_element(By.TAG_NAME, "h1").text == "lab-1"
    sections = chromium.find_elements(By.TAG_NAME, "section")
    assert [s.get_attribute("id") for s in sections] == ["result", "figures", "details"]
    assert [s.find_element(By.TAG_NAME, "h2").text for s in sections] == ["Result", "Figures", "Details"]
    tops = [s.rect["y"] for s in sections]
    assert tops == sorted(tops)  # laid out in that order, top to bottom
    assert in_viewport(chromium, chromium.find_element(By.CSS_SELECTOR, "#result .big"))  # the test accuracy
    widths = chromium.execute_script("return [...document.images].map(i => i.complete ? i.naturalWidth : 0);")
    assert len(widths) == 4 and min(widths) > 0  # accuracy and loss, sweep, labelled spectrogram, confusion matrix
    assert external_resources(chromium) == []
    shot = tmp_path / "report.png"
    assert chromium.save_screenshot(str(shot)) and shot.stat().st_size > 20_000
    try:
        chromium.set_window_size(400, 850)
        assert chromium.execute_script("return document.documentElement.scrollWidth <= window.innerWidth;")
    finally:
        chromium.set_window_size(*WINDOW)
