"""``instrumentid app``: a local web page where a recording is dropped (or recorded) and every note is named.

The page (a `Gradio <https://www.gradio.app>`_ Blocks app, the optional extra ``pip install "instrumentid[app]"``)
shows what ``instrumentid predict --plot`` writes, for one recording at a time: the mel spectrogram with every note
boxed and labelled with its instrument and confidence (:func:`instrumentid.plots.plot_notes`), the per-note table,
the recording's instrument, an audio player, and the CSV and JSON of ``predict --format csv/json``
(:func:`instrumentid.prediction.format_predictions`). The model is the shipped one or any model or run folder on
disk, read by :func:`instrumentid.prediction.load_model` as ``predict --model`` reads it; the confidence threshold is
``predict --min-confidence``.

Bad input (an unreadable or silent recording, a bad model folder, a threshold outside [0, 1]) shows the CLI's one
line, never a traceback. The page is served on this machine only by default (``127.0.0.1``), makes no network call
(Gradio's analytics are turned off, no share link) and loads nothing from outside.

Examples
--------
>>> from instrumentid.app import launch                            # doctest: +SKIP
>>> launch(port=7860)                                              # doctest: +SKIP
* Running on local URL:  http://127.0.0.1:7860
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from instrumentid.audio import MAX_DURATION_S
from instrumentid.calibration import DEFAULT_MIN_CONFIDENCE, check_min_confidence
from instrumentid.errors import InstrumentIdError, ParameterError

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "INSTALL_HINT",
    "TABLE_COLUMNS",
    "PageResult",
    "analyse_recording",
    "build_app",
    "launch",
    "require_gradio",
]

#: How to get the optional dependency of this module.
INSTALL_HINT = 'pip install "instrumentid[app]"'
#: Served on this machine only unless told otherwise.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: The per-note table of the page: (heading, key of :meth:`RecordingPrediction.to_rows`, or "others": the other
#: guesses as ``predict``'s table gives them, every guess of an "unknown" note); confidences in percent.
TABLE_COLUMNS = (
    ("#", "index"), ("start (s)", "start_s"), ("end (s)", "end_s"), ("note", "name"), ("f0 (Hz)", "f0_hz"),
    ("instrument", "instrument"), ("confidence", "confidence"), ("other guesses", "others"),
)
#: What the model box says when it holds no path.
BUILT_IN = "built-in model"


def require_gradio():
    """Import Gradio with its analytics turned off, or say which extra to install.

    Returns
    -------
    module
        ``gradio``.

    Raises
    ------
    InstrumentIdError
        Gradio is not installed.
    """
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # read by Gradio at import and launch: no telemetry, no pings
    try:
        import gradio
    except ImportError as err:
        raise InstrumentIdError(f"instrumentid app needs Gradio, which is not installed ({err}): {INSTALL_HINT}") \
            from None
    return gradio


def _model_arg(text) -> str | None:
    """The model box's text as :func:`~instrumentid.prediction.load_model` takes it: None for the built-in model."""
    text = "" if text is None else str(text).strip()
    return None if text in ("", BUILT_IN) else text


# ----------------------------------------------------------------------------------------------- one recording
@dataclass(frozen=True)
class PageResult:
    """What the page shows for one recording.

    Attributes
    ----------
    prediction : RecordingPrediction
        The notes and instruments, as :func:`instrumentid.prediction.predict` returns them.
    summary : str
        The recording's instrument: the first line of ``predict``'s table.
    figure : Path
        PNG of the mel spectrogram with every note boxed and labelled (``predict --plot``'s figure).
    csv : Path
        ``predict --format csv`` of the recording.
    json : Path
        ``predict --format json`` of the recording.
    rows : list of list
        The per-note table, one row per note in time order, columns :data:`TABLE_COLUMNS`.
    warnings : tuple of str
        Each distinct warning of decoding and note detection, once.
    """

    prediction: object
    summary: str
    figure: Path
    csv: Path
    json: Path
    rows: list
    warnings: tuple


def _table(prediction) -> list:
    rows = []
    for row, p in zip(prediction.to_rows(), prediction.notes, strict=True):
        row.update(confidence=f"{p.confidence:.0%}",
                   others=", ".join(f"{name} {prob:.0%}" for name, prob in p.top[0 if p.is_unknown else 1:]))
        rows.append([row[key] for _, key in TABLE_COLUMNS])
    return rows


def analyse_recording(path, *, out, model=None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                      max_duration_s: float | None = MAX_DURATION_S, name: str | None = None) -> PageResult:
    """Predict the instrument of every note of one recording and write what the page shows into ``out``.

    Parameters
    ----------
    path : str or Path
        The recording (any format :func:`~instrumentid.audio.load_audio` reads).
    out : str or Path
        Folder for the figure, CSV and JSON (created if missing): ``<stem>.notes.png``, ``.csv``, ``.json``.
    model : None, str, Path or a fitted classifier
        See :func:`instrumentid.prediction.load_model` (None: the built-in model).
    min_confidence : float in [0, 1]
        Below it a note, or the recording, is "unknown" (``predict --min-confidence``).
    max_duration_s : float or None
        Longest recording accepted, in seconds.
    name : str, optional
        What to call the recording (default: the file name); error messages name it instead of ``path``.

    Returns
    -------
    PageResult

    Raises
    ------
    InstrumentIdError
        Unreadable or invalid audio, a recording without notes (the message gives the reason, e.g. silent audio),
        a bad model or a ``min_confidence`` outside [0, 1]: the messages of ``instrumentid predict``.
    """
    from instrumentid import plots
    from instrumentid.analysis import no_notes_message
    from instrumentid.prediction import format_predictions, load_model, predict
    from instrumentid.util import atomic_write_text

    path, out = Path(path), Path(out)
    name = path.name if name is None else name
    min_confidence = check_min_confidence(min_confidence)
    clf = load_model(model)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = predict(path, model=clf, name=name, max_duration_s=max_duration_s,
                             min_confidence=min_confidence)
    except InstrumentIdError as err:  # name the recording as the user knows it, not its upload path
        raise type(err)(str(err).replace(str(path), name)) from None
    messages = tuple(dict.fromkeys(str(w.message).removeprefix(f"{name}: ") for w in caught))
    if not result.notes:
        raise ParameterError(no_notes_message(name, messages))
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{Path(name).stem}.notes"
    assert result.analysis is not None  # predict() keeps the analysis: no second decode
    fig, _ = plots.plot_notes(result.analysis.mel_spectrogram(), predictions=result,
                              title=f"Notes and instruments: {name}")
    figure = plots.save_figure(fig, out / f"{stem}.png")
    files = {fmt: atomic_write_text(out / f"{stem}.{fmt}", format_predictions([result], fmt=fmt))
             for fmt in ("csv", "json")}
    return PageResult(prediction=result, summary=result.to_table().splitlines()[0], figure=figure,
                      csv=files["csv"], json=files["json"], rows=_table(result), warnings=messages)


# ----------------------------------------------------------------------------------------------- the page
_INTRO = """# instrumentid
Drop a recording (WAV, AIFF, FLAC, OGG, MP3) or record one: every note is found, boxed on the mel spectrogram and
named with its instrument. A note whose most probable instrument is below the confidence threshold is shown as
**unknown**, with its guesses still listed."""


def build_app(model=None, *, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
              max_duration_s: float | None = MAX_DURATION_S):
    """Build the page (not yet served).

    Parameters
    ----------
    model : None, str or Path
        The model the page starts with: None for the built-in model, or a model or run folder (checked now). The
        page's model box can name another folder on disk at any time.
    min_confidence : float in [0, 1]
        The threshold the page starts with (``predict --min-confidence``'s default).
    max_duration_s : float or None
        Longest recording accepted, in seconds.

    Returns
    -------
    gradio.Blocks
        Serve it with :func:`launch` (or its own ``launch()``).

    Raises
    ------
    InstrumentIdError
        Gradio is not installed, a bad model or a ``min_confidence`` outside [0, 1].
    """
    from instrumentid.prediction import load_model

    gr = require_gradio()
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise ParameterError(f"model must be None or a model or run folder, got {type(model).__name__}")
    load_model(model)  # a bad model is refused before the page is served
    min_confidence = check_min_confidence(min_confidence)
    # the figures, CSV and JSON shown; run() holds it, so it lives as long as the page and is removed with it
    workdir = tempfile.TemporaryDirectory(prefix="instrumentid-app-")

    def run(audio, model_text, threshold):
        try:
            clf = load_model(_model_arg(model_text))  # checked first: a bad folder is reported before any recording
            if audio is None:  # nothing yet, or cleared
                return None, "", None, None, None
            page = analyse_recording(audio, out=tempfile.mkdtemp(dir=workdir.name), model=clf,
                                     min_confidence=threshold, max_duration_s=max_duration_s)
        except InstrumentIdError as err:  # the user's input: the message alone, on the page and nowhere else
            raise gr.Error(str(err), duration=None, title="instrumentid: error", print_exception=False) from None
        except Exception as err:  # noqa: BLE001 - one line on the page, as the CLI's internal error
            raise gr.Error(f"internal error: {type(err).__name__}: {err}", duration=None,
                           title="instrumentid: internal error") from err  # the traceback in the terminal only
        for message in page.warnings:
            if not message.startswith("no notes found"):
                gr.Warning(message)
        headline = f"## Instrument: {page.prediction.instrument}\n{page.summary}"
        return (str(page.figure), headline, dict(page.prediction.probabilities), page.rows,
                [str(page.csv), str(page.json)])

    with gr.Blocks(title="instrumentid", analytics_enabled=False) as blocks:
        gr.Markdown(_INTRO)
        with gr.Row():
            with gr.Column(scale=1):
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Recording",
                                 elem_id="recording")
                model_box = gr.Textbox(value="" if model is None else str(model), placeholder=BUILT_IN, max_lines=1,
                                       label="Model", info="empty: the built-in model; or the path of a model or "
                                       "run folder on this computer (press Enter)", elem_id="model")
                threshold = gr.Slider(0.0, 1.0, value=min_confidence, step=0.05, label="Confidence threshold",
                                      info="below it a note is shown as unknown", elem_id="threshold")
                button = gr.Button("Name the instruments", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                summary = gr.Markdown(elem_id="summary")
                label = gr.Label(num_top_classes=3, show_heading=False, label="Mean probability per instrument",
                                 elem_id="probabilities")
        figure = gr.Image(type="filepath", format="png", label="Notes and instruments", interactive=False,
                          elem_id="figure")
        table = gr.Dataframe(headers=[heading for heading, _ in TABLE_COLUMNS], interactive=False,
                             label="Notes", elem_id="notes")
        downloads = gr.File(file_count="multiple", label="Download: CSV and JSON", interactive=False,
                            elem_id="downloads")
        gr.on([audio.change, button.click, threshold.release, model_box.submit], run,
              inputs=[audio, model_box, threshold], outputs=[figure, summary, label, table, downloads])
    return blocks


def launch(model=None, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
           min_confidence: float = DEFAULT_MIN_CONFIDENCE, max_duration_s: float | None = MAX_DURATION_S,
           block: bool = True, quiet: bool = False):
    """Serve the page of :func:`build_app` at ``http://host:port``.

    Parameters
    ----------
    model, min_confidence, max_duration_s
        As :func:`build_app`.
    host : str
        Interface to listen on: ``127.0.0.1`` (default) serves this machine only; ``0.0.0.0`` the network.
    port : int
        TCP port, 1 to 65535.
    block : bool
        Serve until interrupted (the command); False returns once the page is up (tests, notebooks): stop it
        with the returned app's ``close()``.
    quiet : bool
        Do not print the page's address.

    Returns
    -------
    gradio.Blocks
        The page being served (its address in ``local_url``).

    Raises
    ------
    InstrumentIdError
        As :func:`build_app`, a bad port, or a port already taken.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ParameterError(f"port must be an integer from 1 to 65535, got {port!r}")
    app = build_app(model, min_confidence=min_confidence, max_duration_s=max_duration_s)
    try:
        app.launch(server_name=host, server_port=port, share=False, inbrowser=False, ssr_mode=False,
                   prevent_thread_lock=True, quiet=True, footer_links=["settings"])
    except OSError as err:  # Gradio: "Cannot find empty port in range..."
        raise InstrumentIdError(f"cannot serve the app on {host}:{port}: {err}") from None
    if not quiet:
        where = "this machine only" if host in ("127.0.0.1", "localhost", "::1") else f"the network ({host})"
        print(f"instrumentid app: {app.local_url} (served to {where}; Ctrl+C stops it)", flush=True)
    if block:
        try:
            while app.is_running:
                time.sleep(0.2)
        finally:  # Ctrl+C included (the CLI then says "interrupted")
            app.close()
    return app
