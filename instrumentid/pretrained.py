"""musicnn's pretrained network in ONNX Runtime: the "pools" of each note, a learned block of features.

The shipped model's features are the 120 of :mod:`instrumentid.features` followed by the pooled embedding of
musicnn's ``MSD_musicnn`` network (Pons and Serra 2019, ISC licence) of each note's first second
(:class:`~instrumentid.settings.FeatureSettings` ``embedding``): issue 13's leave-one-source-out measurement chose
it. The network's front and mid-end (no tagging head) ship as ONNX in ``instrumentid/data/musicnn/``, exported once
from the torch port of :mod:`instrumentid.embeddings` (``scripts/export_musicnn_onnx.py``; the port matches
TensorFlow to 1e-5, the export matches the port, both tested), so predicting needs neither torch, nor TensorFlow,
nor the musicnn wheel, and nothing is downloaded.

The input is musicnn's (``musicnn.extractor.batch_data``): 16 kHz, a centred STFT of 512 samples every 256 (Hann,
power), 96 mel bands (librosa's filters), rounded to float16, then log10(10000 x + 1). Here the product is taken in
float32 (musicnn's float16 product overflows to infinity above x = 6.55, which every peak-normalised note reaches)
and the result is rounded to float16 again. The STFT and the mel filters are :mod:`instrumentid.dsp`'s (librosa's
arithmetic, same bits).
"""

from __future__ import annotations

import functools
import numbers
from pathlib import Path

import numpy as np

from instrumentid.audio import MAX_SR, MIN_SR, resample
from instrumentid.dsp import frame, frame_magnitudes, mel_basis
from instrumentid.errors import ModelFileError, ParameterError
from instrumentid.settings import EMBEDDING_MAX_FRAMES, EMBEDDINGS, SR
from instrumentid.util import one_blas_thread, worker_threads

__all__ = ["HOP", "MUSICNN_SR", "NETWORKS", "N_FFT", "N_FRAMES", "N_MELS", "N_POOLS", "check_network", "log_mel",
           "network_path", "note_input", "note_pools"]

#: musicnn's input (``musicnn/configuration.py``): sample rate (Hz), FFT size and hop (samples), mel bands.
MUSICNN_SR, N_FFT, HOP, N_MELS = 16000, 512, 256, 96
#: Frames of the 3 s patches the networks were trained on (``config.json``: ``n_frames``): the longest input.
N_FRAMES = EMBEDDING_MAX_FRAMES
#: Width of the pooled embedding: mean and max over time of 561 front-end and 3 x 64 mid-end maps.
N_POOLS = 2 * (561 + 3 * 64)
#: The networks that ship in ONNX, by name (the file ``instrumentid/data/musicnn/<name>.onnx``).
NETWORKS = tuple(EMBEDDINGS)
#: Where the ONNX files are.
FOLDER = Path(__file__).resolve().parent / "data" / "musicnn"
#: Input and output names of the ONNX files.
INPUT_NAME, OUTPUT_NAME = "log_mel", "pools"
#: Notes per run of the network. It bounds memory: ONNX Runtime keeps the largest run's buffers (the two timbral
#: convolutions' maps, 3 MB a note for 1 s), so a process's peak grew from 106 MB (1 note a run) to 148 MB (4), 208 MB
#: (8) and 433 MB (64) for 20 notes. The result depends on it only by float rounding.
BATCH = 4


def network_path(network: str) -> Path:
    """The ONNX file of ``network`` (one of :data:`NETWORKS`).

    Raises
    ------
    ParameterError
        Another name.
    ModelFileError
        The file is missing (rebuild it with ``scripts/export_musicnn_onnx.py``).
    """
    if network not in NETWORKS:
        raise ParameterError(f"embedding network must be one of {', '.join(NETWORKS)}, got {network!r}")
    path = FOLDER / f"{network}.onnx"
    if not path.is_file():
        raise ModelFileError(f"the network {network} is missing from {str(FOLDER)!r}: rebuild it with "
                             "scripts/export_musicnn_onnx.py")
    return path


def check_network(network: str) -> Path:
    """Load ``network`` once, so that a missing or damaged file is found before any work; return its path.

    Raises
    ------
    ParameterError
        Not one of :data:`NETWORKS`.
    ModelFileError
        The file is missing, damaged or holds another network.
    """
    _session(network, worker_threads())  # the session note_pools runs: loaded now rather than on the first note
    return network_path(network)


@functools.lru_cache(maxsize=4)
def _session(network: str, threads: int):
    """An ONNX Runtime session of ``network`` on ``threads`` threads (one per process and thread count)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.log_severity_level = 3
    path = network_path(network)
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - a damaged file is one clear message
        raise ModelFileError(f"{path}: not a loadable ONNX network ({type(err).__name__}: {err})") from None
    # another network in its place ran, and failed on the shape of its output (an internal error)
    signature = ([(i.name, len(i.shape), i.shape[-1]) for i in session.get_inputs()],
                 [(o.name, o.shape[-1] if o.shape else None) for o in session.get_outputs()])
    if signature != ([(INPUT_NAME, 3, N_MELS)], [(OUTPUT_NAME, N_POOLS)]):
        raise ModelFileError(f"{path}: not the network {network} (inputs and outputs {signature}, expected "
                             f"{INPUT_NAME} (batch, frames, {N_MELS}) -> {OUTPUT_NAME} (batch, {N_POOLS}))")
    return session


def log_mel(y: np.ndarray) -> np.ndarray:
    """The input of musicnn for a 16 kHz signal: log-compressed 96-band mel power spectrogram.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        At 16 kHz.

    Returns
    -------
    np.ndarray [shape=(1 + n // 256, 96), dtype=float32]
        log10(10000 x + 1) of the mel power x (librosa's centred STFT, zero-padded, and mel filters), x rounded to
        float16 first, the result rounded to float16 (see the module's docstring).
    """
    y = np.pad(np.asarray(y, dtype=np.float32), N_FFT // 2)
    power = np.square(frame_magnitudes(frame(y, N_FFT, HOP).T))
    S = power @ mel_basis(MUSICNN_SR, N_FFT, N_MELS).T
    return np.log10(10000 * S.astype(np.float16).astype(np.float32) + 1).astype(np.float16).astype(np.float32)


def note_input(y: np.ndarray, *, sr: float = SR, n_frames: int = N_FRAMES) -> np.ndarray:
    """The input patch of one note: its first ``n_frames`` frames from the onset, peak-normalised.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        The note from its onset, at ``sr``.
    sr : float
        Sample rate of ``y`` in Hz.
    n_frames : int
        Frames of the patch (187: the 2.98 s the networks were trained on; 63: 0.99 s); shorter notes are
        zero-padded.

    Returns
    -------
    np.ndarray [shape=(n_frames, 96), dtype=float32]

    Raises
    ------
    ParameterError
        Not a 1-D array, an empty note, or one with NaN or infinite samples.
    """
    n = (n_frames - 1) * HOP
    try:
        y = np.asarray(y, dtype=np.float32)
    except (TypeError, ValueError):
        raise ParameterError(f"a note must be an array of samples, got {type(y).__name__}") from None
    if y.ndim != 1:
        raise ParameterError(f"a note must be a 1-D array of samples (one channel), got shape {y.shape}")
    y = y[: int(np.ceil(n * sr / MUSICNN_SR)) + 64]
    if y.size == 0 or not np.isfinite(y).all():
        raise ParameterError(f"a note must hold finite samples, got {y.size} samples")
    y = resample(y / max(float(np.max(np.abs(y))), 1e-9), orig_sr=sr, target_sr=MUSICNN_SR)[:n]
    return log_mel(np.pad(y, (0, n - y.shape[0])))


def note_pools(clips, *, sr: float = SR, network: str = "MSD_musicnn", n_frames: int = 63) -> np.ndarray:
    """The pooled embedding of each note: ``network`` run on :func:`note_input`, mean and max over time.

    Parameters
    ----------
    clips : sequence of np.ndarray [shape=(n_i,)]
        Each note from its onset, at ``sr`` Hz; only its first ``n_frames`` frames are used.
    sr : float
    network : str
        One of :data:`NETWORKS`.
    n_frames : int
        Input frames per note, 1 to :data:`N_FRAMES` (63: the first 0.99 s).

    Returns
    -------
    np.ndarray [shape=(n_notes, 1506), dtype=float32]
        Per note, the mean then the max over time of the 753 maps of the front and mid-end (named by
        :attr:`~instrumentid.settings.FeatureSettings.feature_names`).

    Raises
    ------
    ParameterError
        An unknown network, a bad ``n_frames`` or ``sr``, ``clips`` that are not a sequence of 1-D arrays, or a note
        that is empty or not finite.
    ModelFileError
        The network's file is missing, damaged or another network.
    """
    try:
        ok = not isinstance(n_frames, bool) and int(n_frames) == n_frames and 1 <= n_frames <= N_FRAMES
    except (TypeError, ValueError, OverflowError):  # None, "abc", NaN, infinity
        ok = False
    if not ok:
        raise ParameterError(f"n_frames must be an integer from 1 to {N_FRAMES}, got {n_frames!r}")
    if (isinstance(sr, bool) or not isinstance(sr, numbers.Real) or not np.isfinite(sr)
            or not MIN_SR <= sr <= MAX_SR):
        raise ParameterError(f"sr must be a sample rate from {MIN_SR:,} to {MAX_SR:,} Hz, got {sr!r}")
    network_path(network)
    try:
        clips = list(clips)
    except TypeError:
        raise ParameterError(f"clips must be a sequence of notes (1-D arrays), got {type(clips).__name__}") from None
    out = np.empty((len(clips), N_POOLS), np.float32)
    if not clips:
        return out
    # the inputs first, on one BLAS thread: a BLAS thread left spinning after the mel products took a core from ONNX
    # Runtime's threads (20 notes: 0.22 s interleaved, 0.10 s apart); 24 KB a note
    X = np.empty((len(clips), int(n_frames), N_MELS), np.float32)
    with one_blas_thread():
        for i, clip in enumerate(clips):
            try:
                X[i] = note_input(clip, sr=sr, n_frames=int(n_frames))
            except ParameterError as err:
                raise ParameterError(f"note {i} of {len(clips)}: {err}") from None
    session = _session(network, worker_threads())
    for start in range(0, len(clips), BATCH):
        out[start:start + BATCH] = session.run([OUTPUT_NAME], {INPUT_NAME: X[start:start + BATCH]})[0]
    bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
    if bad.size:  # the inputs are finite: the network's file is at fault
        raise ModelFileError(f"{network_path(network)}: the network's pools of note {bad[0]} (of {len(clips)}) are "
                             "not finite")
    return out
