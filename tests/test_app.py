"""The app (instrumentid.app): one recording's page through the Python API, the command, and the page itself in headless
Chromium (upload a rendered phrase, read the notes and instruments off the page, bad input, a screenshot).

``python tests/test_app.py docs/app.png`` retakes the README's screenshot of the page.
"""

from __future__ import annotations

import importlib.util
import io
import json
import socket
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import synth

from instrumentid import cli
from instrumentid.app import TABLE_COLUMNS, analyse_recording, build_app, launch
from instrumentid.errors import ModelFileError, ParameterError
from instrumentid.prediction import format_predictions, predict

SR = 22050
needs_gradio = pytest.mark.skipif(importlib.util.find_spec("gradio") is None,
                                  reason="gradio is not installed (the app extra)")


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """A rendered trumpet phrase (five notes), a file that is not audio, and a silent recording."""
    folder = tmp_path_factory.mktemp("recordings")
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(64))
    return {
        "phrase": synth.write(folder / "gaps.wav", synth.phrase_audio("gaps"), sr=SR),
        "corrupt": folder / "corrupt.wav",
        "silent": synth.write(folder / "silent.wav", np.zeros(SR, dtype=np.float32), sr=SR),
    }


def _cli_error(capsys, argv) -> str:
    """The one line ``instrumentid ARGV`` prints on stderr, without its prefix (exit code 2)."""
    capsys.readouterr()
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("instrumentid: error: ")
    return lines[0].removeprefix("instrumentid: error: ")


def _notes(prediction) -> list:
    """(note, instrument, confidence in %) of every note, as the page's table shows them."""
    return [[p.note.name, p.instrument, f"{p.confidence:.0%}"] for p in prediction.notes]


# ----------------------------------------------------------------------------------------------- the Python API
def test_page_of_a_recording_is_what_predict_says(recordings, tmp_path):
    path = recordings["phrase"]
    page = analyse_recording(path, out=tmp_path)
    expected = predict(path, name=path.name)
    assert page.prediction == expected and expected.instrument == "trumpet"
    assert page.summary == expected.to_table().splitlines()[0]
    assert page.csv.read_text() == format_predictions([expected], fmt="csv")
    assert json.loads(page.json.read_text()) == json.loads(format_predictions([expected], fmt="json"))
    assert page.figure.read_bytes().startswith(b"\x89PNG") and page.figure.name == "gaps.notes.png"
    keys = [key for _, key in TABLE_COLUMNS]
    assert [[row[keys.index(k)] for k in ("name", "instrument", "confidence")] for row in page.rows] == \
        _notes(expected)
    lines = expected.to_table().splitlines()[2:]  # the CLI's table: its "other guesses" ends every note's line
    assert all(line.endswith(f"  {row[keys.index('others')]}") for line, row in zip(lines, page.rows, strict=True))


def test_notes_below_the_threshold_are_unknown(recordings, tmp_path):
    # a threshold over every note's probability (the shipped model names these trumpet notes at 0.98-0.999)
    top = max(p.confidence for p in predict(recordings["phrase"]).notes)
    assert top < 1.0
    page = analyse_recording(recordings["phrase"], out=tmp_path, min_confidence=(1.0 + top) / 2)
    assert page.prediction.instrument == "unknown" and page.summary.startswith("gaps.wav: unknown (best guess")
    keys = [key for _, key in TABLE_COLUMNS]
    for row, p in zip(page.rows, page.prediction.notes, strict=True):
        assert row[keys.index("instrument")] == "unknown" and row[keys.index("others")].startswith(p.guess)


def test_bad_input_gives_the_message_of_the_cli(recordings, tmp_path, capsys):
    for kind in ("corrupt", "silent"):
        path = recordings[kind]
        expected = _cli_error(capsys, ["predict", str(path)]).replace(str(path), path.name)
        with pytest.raises(ParameterError) as err:
            analyse_recording(path, out=tmp_path / kind)
        assert str(err.value) == expected
        assert not (tmp_path / kind).exists()  # nothing written
    assert "audio is silent" in expected
    with pytest.raises(ModelFileError, match="no model.json"):
        analyse_recording(recordings["phrase"], out=tmp_path, model=tmp_path)
    with pytest.raises(ParameterError, match="min_confidence"):
        analyse_recording(recordings["phrase"], out=tmp_path, min_confidence=1.5)


@needs_gradio
def test_build_app_and_launch_refuse_bad_settings(tmp_path):
    with pytest.raises(ModelFileError, match="no model.json"):
        build_app(tmp_path)
    with pytest.raises(ParameterError, match="model must be None or a model or run folder"):
        build_app(object())
    with pytest.raises(ParameterError, match="port must be an integer from 1 to 65535, got 70000"):
        launch(port=70000)


# ----------------------------------------------------------------------------------------------- the command
def test_command_serves_this_machine_by_default(monkeypatch):
    calls = []
    monkeypatch.setattr("instrumentid.app.launch", lambda model, **kw: calls.append((model, kw)))
    assert cli.main(["app"]) == 0
    assert calls == [(None, {"host": "127.0.0.1", "port": 7860})]
    assert cli.main(["app", "--host", "0.0.0.0", "--port", "8080", "--model", "."]) == 0
    assert calls[-1] == (Path("."), {"host": "0.0.0.0", "port": 8080})


@pytest.mark.parametrize("argv", [["app", "--port", "0"], ["app", "--port", "x"], ["app", "--model", "/no/such"]])
def test_command_refuses_bad_options(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_command_without_gradio_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    message = _cli_error(capsys, ["app"])
    assert message.startswith("instrumentid app needs Gradio") and 'pip install "instrumentid[app]"' in message


# ----------------------------------------------------------------------------------------------- in the browser
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def page_url():
    """The app served on a free port of 127.0.0.1 for this module's tests."""
    pytest.importorskip("gradio", reason="gradio is not installed (the app extra)")
    app = launch(port=_free_port(), block=False, quiet=True)
    yield app.local_url
    app.close()


def open_page(driver, url, *, audio=None, model=None):
    """Load the page; type a model folder (and Enter) and/or give the recording to the drop zone."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#recording input[type=file]"))
    if model is not None:
        driver.find_element(By.CSS_SELECTOR, "#model textarea, #model input").send_keys(str(model), Keys.ENTER)
    if audio is not None:
        driver.find_element(By.CSS_SELECTOR, "#recording input[type=file]").send_keys(str(audio))


def wait_for_notes(driver, n_notes: int, *, timeout: float = 60) -> list:
    """The page's table of notes once it has ``n_notes`` rows: a list of cell texts per row."""
    from selenium.webdriver.support.ui import WebDriverWait

    def table(d):
        rows = d.execute_script(  # Gradio's table: a header <table>, then the rows as div[role=row]
            "return [...document.querySelectorAll('#notes div[role=row]')]"
            ".map(row => [...row.children].map(cell => cell.textContent.trim()));")
        shown = d.execute_script(  # the figure loaded, and no overlay fading over it (Gradio's pending veil)
            "const img = document.querySelector('#figure img');"
            "if (!img || !img.complete || img.naturalWidth === 0) return false;"
            "for (let e = img; e; e = e.parentElement) if (getComputedStyle(e).opacity !== '1') return false;"
            "return [...document.querySelectorAll('#figure *')].every(e => getComputedStyle(e).position !== "
            "'absolute' || ['0', '1'].includes(getComputedStyle(e).opacity));")
        return rows if len(rows) == n_notes and shown else None

    return WebDriverWait(driver, timeout).until(table)


def wait_for_text(driver, text: str, *, timeout: float = 60) -> str:
    """The page's visible text once it contains ``text``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def page_text(d):
        body = d.find_element(By.TAG_NAME, "body").text
        return body if text in body else None

    return WebDriverWait(driver, timeout).until(page_text, message=f"the page never showed {text!r}")


def test_page_names_every_note(chromium, page_url, recordings, tmp_path):
    from headless import external_resources, in_viewport
    from selenium.webdriver.common.by import By

    path = recordings["phrase"]
    expected = predict(path, name=path.name)
    open_page(chromium, page_url, audio=path)
    rows = wait_for_notes(chromium, len(expected.notes))
    headings = [heading for heading, _ in TABLE_COLUMNS]
    shown = [[row[headings.index(h)] for h in ("note", "instrument", "confidence")] for row in rows]
    assert shown == _notes(expected)
    summary = chromium.find_element(By.ID, "summary").text
    assert f"Instrument: {expected.instrument}" in summary and expected.to_table().splitlines()[0] in summary
    assert chromium.find_elements(By.CSS_SELECTOR, "#recording audio, #recording [data-testid*=waveform]") or \
        "0:0" in chromium.find_element(By.ID, "recording").text  # the player
    links = {a.text.strip() or a.get_attribute("download"): a.get_attribute("href")
             for a in chromium.find_elements(By.CSS_SELECTOR, "#downloads a[href]")}
    csv_url = next(url for url in links.values() if url.split("?")[0].endswith("gaps.notes.csv"))
    assert urllib.request.urlopen(csv_url).read().decode() == format_predictions([expected], fmt="csv")
    assert external_resources(chromium) == []  # nothing loaded from outside this machine
    figure = chromium.find_element(By.CSS_SELECTOR, "#figure img")
    chromium.execute_script("window.scrollTo(0, 0);")
    assert in_viewport(chromium, figure)  # the screenshot shows the labelled spectrogram
    shot = tmp_path / "app.png"
    assert chromium.save_screenshot(str(shot)) and shot.stat().st_size > 50_000


def test_page_shows_the_message_of_the_cli(chromium, page_url, recordings, tmp_path, capsys):
    for kind in ("corrupt", "silent"):
        path = recordings[kind]
        expected = _cli_error(capsys, ["predict", str(path)]).replace(str(path), path.name)
        open_page(chromium, page_url, audio=path)
        assert "Traceback" not in wait_for_text(chromium, expected)
    empty = tmp_path / "not_a_model"
    empty.mkdir()
    expected = _cli_error(capsys, ["predict", "--model", str(empty), str(recordings["phrase"])])
    open_page(chromium, page_url, model=empty)
    assert "Traceback" not in wait_for_text(chromium, expected)
    chromium.save_screenshot(str(tmp_path / "app-error.png"))


def save_page_screenshot(out, *, phrase: str = "two_instruments") -> Path:
    """Serve the app, give it a rendered phrase of :data:`synth.PHRASES`, and save the page once it shows the notes
    (as a 256-colour PNG)."""
    import tempfile

    from headless import start_chromium

    with tempfile.TemporaryDirectory() as tmp:
        audio = synth.write(Path(tmp) / f"{phrase}.wav", synth.phrase_audio(phrase), sr=SR)
        app = launch(port=_free_port(), block=False, quiet=True)
        driver = start_chromium()
        try:
            open_page(driver, app.local_url, audio=audio)
            wait_for_notes(driver, len(predict(audio).notes))
            png = driver.get_screenshot_as_png()
        finally:
            driver.quit()
            app.close()
    from PIL import Image  # matplotlib's dependency: 256 colours keep the committed image small

    Image.open(io.BytesIO(png)).convert("RGB").quantize(256).save(out, optimize=True)
    return Path(out)


if __name__ == "__main__":  # python tests/test_app.py docs/app.png: the README's screenshot of the page
    print(f"wrote {save_page_screenshot(sys.argv[1])}")
