"""Embeddings of musicnn's pretrained networks, in torch (no TensorFlow): the "pools" of issue 13's measurement.

musicnn (Pons and Serra 2019; ISC licence; ``pip install --no-deps musicnn==0.1.0``, which the set-up does) ships
four TensorFlow 1 checkpoints inside its wheel. Its two ``musicnn`` networks (trained to tag the Million Song Dataset,
``MSD_musicnn``, or MagnaTagATune, ``MTT_musicnn``; same architecture) are rebuilt here as :class:`Musicnn`, layer
for layer as ``musicnn/models.py`` defines them (``build_musicnn``), in inference mode (batch norm with the stored
moving statistics, no dropout). Their weights are read from the installed wheel's checkpoint with numpy
(:mod:`instrumentid.tfcheckpoint`) and converted once to safetensors in the cache folder (:func:`musicnn_weights`);
nothing is downloaded at run time. ``tests/test_embeddings.py`` checks the port against TensorFlow's own outputs.

The input is musicnn's log-mel spectrogram (:func:`instrumentid.pretrained.log_mel`, :func:`~instrumentid.pretrained.
note_input`). :func:`export_pools_onnx` writes the front and mid-end to the ONNX file that the shipped model's
features run in ONNX Runtime (:mod:`instrumentid.pretrained`; ``scripts/export_musicnn_onnx.py``).

The embedding of a note (:func:`note_embeddings`): its first 3 s (187 frames) from the onset, peak-normalised;
the network's front end (timbral convolutions 7 x 38 and 7 x 67 of the mel bands, 204 maps each, and temporal ones
of 128, 64 and 32 frames, 51 maps each, every map max-pooled over frequency: 561 per frame) and mid-end (three
convolutions of 7 frames, 64 maps each, the last two residual) give 753 values per frame; their mean and their
maximum over time are the 1506 "pools" (mean first). :func:`recording_embeddings` runs the network once over a
whole recording and pools each note's frames instead: cheaper, but not the same numbers (the convolutions see the
neighbouring notes, and the level is the recording's, not the note's).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import nn

from instrumentid.analysis import find_notes
from instrumentid.audio import resample
from instrumentid.errors import ModelFileError, ParameterError
from instrumentid.pretrained import (
    HOP,
    INPUT_NAME,
    MUSICNN_SR,
    N_FRAMES,
    N_MELS,
    N_POOLS,
    OUTPUT_NAME,
    log_mel,
    note_input,
)
from instrumentid.settings import SR
from instrumentid.tfcheckpoint import read_checkpoint
from instrumentid.util import atomic_file, cache_dir

__all__ = [
    "MODELS",
    "Musicnn",
    "export_pools_onnx",
    "load_musicnn",
    "log_mel",
    "musicnn_available",
    "musicnn_weights",
    "note_embeddings",
    "note_input",
    "pool_frames",
    "recording_embeddings",
]

#: The musicnn networks of the wheel that :class:`Musicnn` rebuilds, with their number of tags.
MODELS = {"MSD_musicnn": 50, "MTT_musicnn": 50}
#: The musicnn release whose checkpoints are read (its wheel on PyPI).
MUSICNN_VERSION = "0.1.0"
#: Bump when the conversion of the checkpoint to safetensors changes.
CONVERSION_VERSION = 1
#: batch normalisation's epsilon in ``tf.compat.v1.layers.batch_normalization``.
BN_EPS = 1e-3


class Musicnn(nn.Module):
    """musicnn's ``build_musicnn`` network (front end, mid-end, back-end) in inference mode.

    Parameters
    ----------
    n_classes : int
        Tags of the output layer (50 for both released networks).
    n_mels : int
        Mel bands of the input (96).

    Notes
    -----
    Layers in musicnn's order, named after their role (:data:`_TF_NAMES` maps them to the checkpoint's names). The
    front end's convolutions are ReLU then batch norm then max over frequency; "same" padding in time follows
    TensorFlow (for an even kernel, one more frame after than before).
    """

    def __init__(self, n_classes: int = 50, n_mels: int = N_MELS):
        super().__init__()
        self.input_bn = nn.BatchNorm2d(1, eps=BN_EPS)
        widths = (int(0.4 * n_mels), int(0.7 * n_mels))
        self.timbral = nn.ModuleList(nn.Conv2d(1, int(1.6 * 128), (7, w)) for w in widths)
        self.timbral_bn = nn.ModuleList(nn.BatchNorm2d(int(1.6 * 128), eps=BN_EPS) for _ in widths)
        self.lengths = (128, 64, 32)
        self.temporal = nn.ModuleList(nn.Conv2d(1, int(1.6 * 32), (k, 1)) for k in self.lengths)
        self.temporal_bn = nn.ModuleList(nn.BatchNorm2d(int(1.6 * 32), eps=BN_EPS) for _ in self.lengths)
        n_front = 2 * int(1.6 * 128) + 3 * int(1.6 * 32)
        self.midend = nn.ModuleList(nn.Conv1d(n, 64, 7) for n in (n_front, 64, 64))
        self.midend_bn = nn.ModuleList(nn.BatchNorm1d(64, eps=BN_EPS) for _ in range(3))
        n_maps = n_front + 3 * 64
        self.pool_bn = nn.BatchNorm1d(2 * n_maps, eps=BN_EPS)
        self.dense = nn.Linear(2 * n_maps, 200)
        self.dense_bn = nn.BatchNorm1d(200, eps=BN_EPS)
        self.logits = nn.Linear(200, n_classes)

    def frame_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The front end's and the mid-end's maps of every frame.

        Parameters
        ----------
        x : torch.Tensor [shape=(batch, n_frames, n_mels)]
            musicnn's log-mel input (:func:`log_mel`).

        Returns
        -------
        torch.Tensor [shape=(batch, 753, n_frames)]
            The timbral (2 x 204) and temporal (3 x 51) maps, then the mid-end's three layers (3 x 64; the second and
            third with their residual sums), as musicnn concatenates them.
        """
        x = self.input_bn(x.unsqueeze(1))  # (batch, 1, time, mel)
        padded = nn.functional.pad(x, (0, 0, 3, 3))
        maps = [bn(torch.relu(conv(padded))).amax(dim=3) for conv, bn in zip(self.timbral, self.timbral_bn,
                                                                             strict=True)]
        for k, conv, bn in zip(self.lengths, self.temporal, self.temporal_bn, strict=True):
            same = nn.functional.pad(x, (0, 0, (k - 1) // 2, k // 2))
            maps.append(bn(torch.relu(conv(same))).amax(dim=3))
        front = torch.cat(maps, dim=1)
        mid = [front]
        h = front
        for i, (conv, bn) in enumerate(zip(self.midend, self.midend_bn, strict=True)):
            out = bn(torch.relu(conv(nn.functional.pad(h, (3, 3)))))
            h = out if i == 0 else out + h
            mid.append(h)
        return torch.cat(mid, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled embedding: mean and max over time of :meth:`frame_maps`.

        Parameters
        ----------
        x : torch.Tensor [shape=(batch, n_frames, n_mels)]

        Returns
        -------
        torch.Tensor [shape=(batch, 1506)]
            ``[mean (753), max (753)]`` (musicnn's ``mean_pool`` and ``max_pool`` side by side).
        """
        maps = self.frame_maps(x)
        return torch.cat([maps.mean(dim=2), maps.amax(dim=2)], dim=1)

    def head(self, pools: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The back-end of musicnn on the pools: its penultimate layer (200) and the tag logits.

        Parameters
        ----------
        pools : torch.Tensor [shape=(batch, 1506)]
            :meth:`forward`'s output.

        Returns
        -------
        penultimate : torch.Tensor [shape=(batch, 200)]
        logits : torch.Tensor [shape=(batch, n_classes)]
        """
        n = pools.shape[1] // 2
        # musicnn flattens (maps, [max, mean]): each map's max, then its mean
        flat = self.pool_bn(torch.stack([pools[:, n:], pools[:, :n]], dim=2).flatten(1))
        penultimate = self.dense_bn(torch.relu(self.dense(flat)))
        return penultimate, self.logits(penultimate)


def _tf_names() -> dict[str, str]:
    """Per layer of :class:`Musicnn`, its name in musicnn's checkpoint (TensorFlow numbers layers in build order)."""
    names = {"input_bn": "batch_normalization"}
    convs = ["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2", "midend.0", "midend.1", "midend.2"]
    bns = [c.replace(".", "_bn.") for c in convs] + ["pool_bn", "dense_bn"]
    names.update({c: "conv2d" + (f"_{i}" if i else "") for i, c in enumerate(convs)})
    names.update({b: f"batch_normalization_{i}" for i, b in enumerate(bns, start=1)})
    names.update({"dense": "dense", "logits": "dense_1"})
    return names


#: Per layer of :class:`Musicnn`, its name in musicnn's checkpoint.
_TF_NAMES = _tf_names()
#: torch's name of each TensorFlow variable of a layer: batch norm, convolution or dense.
_BN_VARS = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
_LAYER_VARS = {"weight": "kernel", "bias": "bias"}


def _to_torch(name: str, value: np.ndarray) -> np.ndarray:
    """A checkpoint variable in torch's layout.

    conv2d kernels (h, w, in, out) -> (out, in, h, w); the mid-end's "conv2d" over (time, all maps) -> Conv1d
    (out, maps, time); dense kernels (in, out) -> (out, in); the rest as is.
    """
    if name.startswith("midend.") and value.ndim == 4:
        return value[:, :, 0, :].transpose(2, 1, 0)
    if value.ndim == 4:
        return value.transpose(3, 2, 0, 1)
    return value.T if value.ndim == 2 else value


def musicnn_folder() -> Path | None:
    """The folder of the installed ``musicnn`` package (its checkpoints), or None when it is not installed.

    The package is only located, never imported (its modules need TensorFlow).
    """
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def musicnn_available(model: str = "MSD_musicnn") -> bool:
    """Whether the checkpoint of ``model`` can be read (the musicnn wheel is installed)."""
    folder = musicnn_folder()
    return folder is not None and (folder / model / ".index").is_file()


def _check_model(model: str) -> str:
    if model not in MODELS:
        raise ParameterError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    return model


def musicnn_weights(model: str = "MSD_musicnn") -> Path:
    """The safetensors file of ``model``'s weights in torch's layout, converted from the wheel's checkpoint once.

    The file, ``<cache>/musicnn/<model>-<hash>.safetensors``, is named after the sha256 of the checkpoint's data
    shard, so a different checkpoint is converted again; it is written atomically.

    Raises
    ------
    ParameterError
        ``model`` is not one of :data:`MODELS`.
    ModelFileError
        musicnn is not installed (the set-up installs it: ``pip install --no-deps musicnn==0.1.0``), or its
        checkpoint does not hold the expected variables.
    """
    _check_model(model)
    folder = musicnn_folder()
    if folder is None or not musicnn_available(model):
        raise ModelFileError(f"musicnn's {model} checkpoint is not installed: run scripts/setup.sh, or "
                             f"pip install --no-deps musicnn=={MUSICNN_VERSION}")
    prefix = f"{folder / model}/"  # the checkpoint's prefix is the folder itself: files ".index", ".data-..."
    digest = hashlib.sha256()
    with open(f"{prefix}.data-00000-of-00001", "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    path = cache_dir() / "musicnn" / f"{model}-v{CONVERSION_VERSION}-{digest.hexdigest()[:16]}.safetensors"
    if path.is_file():
        return path
    net = Musicnn(MODELS[model])
    wanted = {}
    for key in net.state_dict():
        layer, _, var = key.rpartition(".")
        if var != "num_batches_tracked":
            tf_var = (_BN_VARS if "bn" in layer else _LAYER_VARS)[var]
            wanted[key] = f"{_TF_NAMES[layer]}/{tf_var}"
    tf_values = read_checkpoint(prefix, wanted.values())
    tensors = {}
    for key, value in net.state_dict().items():
        if key in wanted:
            array = _to_torch(key, tf_values[wanted[key]])
            if array.shape != tuple(value.shape):
                raise ModelFileError(f"{prefix}: {wanted[key]} has shape {array.shape}, {key} needs "
                                     f"{tuple(value.shape)}")
            tensors[key] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        else:
            tensors[key] = value
    from safetensors.torch import save_file

    with atomic_file(path) as tmp:
        save_file(tensors, str(tmp), metadata={"source": f"musicnn {MUSICNN_VERSION} {model}",
                                               "data_sha256": digest.hexdigest()})
    return path


def load_musicnn(model: str = "MSD_musicnn") -> Musicnn:
    """``model``'s network with its weights, in eval mode (converting the checkpoint on first use).

    Raises
    ------
    ParameterError, ModelFileError
        As :func:`musicnn_weights`.
    """
    from safetensors.torch import load_file

    net = Musicnn(MODELS[_check_model(model)])
    net.load_state_dict(load_file(str(musicnn_weights(model))))
    return net.eval()


def export_pools_onnx(path, model: str = "MSD_musicnn") -> Path:
    """Write ``model``'s pools (:meth:`Musicnn.forward`, no tagging head) as an ONNX graph.

    Input ``log_mel`` [shape=(batch, frames, 96), float32], both axes dynamic; output ``pools`` [shape=(batch, 1506)].
    Exported with torch's TorchScript exporter (``dynamo=False``), opset 17, written atomically.

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file to write.
    model : str
        One of :data:`MODELS`.

    Returns
    -------
    Path

    Raises
    ------
    ParameterError, ModelFileError
        As :func:`musicnn_weights`.
    """
    net = load_musicnn(model)
    path = Path(path)
    with atomic_file(path) as tmp, torch.inference_mode():
        torch.onnx.export(net, (torch.zeros(2, 63, N_MELS),), str(tmp), input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_axes={INPUT_NAME: {0: "batch", 1: "frames"}},
                          opset_version=17, dynamo=False)
    return path


def _run(net: Musicnn, batches, fn) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate([fn(net, torch.from_numpy(b)).numpy() for b in batches])


def note_embeddings(clips, *, sr: float = SR, model: str | Musicnn = "MSD_musicnn", n_frames: int = N_FRAMES,
                    batch_size: int = 16) -> np.ndarray:
    """The pooled musicnn embedding of each note.

    Parameters
    ----------
    clips : sequence of np.ndarray [shape=(n,)]
        Each note from its onset, at ``sr`` (only its first ``n_frames`` frames are used).
    sr : float
        Sample rate in Hz.
    model : str or Musicnn
        One of :data:`MODELS` (loaded with :func:`load_musicnn`) or a loaded network.
    n_frames : int
        Input frames per note (187: 3 s).
    batch_size : int
        Notes per run of the network.

    Returns
    -------
    np.ndarray [shape=(n_notes, 1506), dtype=float32]
        Per note, the mean then the max over time of the 753 maps (:meth:`Musicnn.forward`).
    """
    if int(n_frames) != n_frames or n_frames < 1 or int(batch_size) != batch_size or batch_size < 1:
        raise ParameterError(f"n_frames and batch_size must be positive integers, got {n_frames!r}, {batch_size!r}")
    net = load_musicnn(model) if isinstance(model, str) else model
    X = np.stack([note_input(c, sr=sr, n_frames=int(n_frames)) for c in clips]) if len(clips) else \
        np.zeros((0, int(n_frames), N_MELS), np.float32)
    if len(X) == 0:
        return np.zeros((0, N_POOLS), np.float32)
    return _run(net, [X[k:k + batch_size] for k in range(0, len(X), batch_size)], lambda m, x: m(x))


def recording_embeddings(source, *, sr: float | None = None, model: str | Musicnn = "MSD_musicnn",
                         per_note: str = "clip", n_frames: int = N_FRAMES):
    """The pooled musicnn embedding of each note of a recording (notes found as ``instrumentid notes`` finds them).

    Parameters
    ----------
    source : str, os.PathLike or np.ndarray
        An audio file or samples (see :func:`instrumentid.analysis.load`).
    sr : float, optional
        Sample rate of an array in Hz.
    model : str or Musicnn
        As :func:`note_embeddings`.
    per_note : {"clip", "frames"}
        ``"clip"``: each note's first ``n_frames`` frames from its onset run through the network on their own, as
        issue 13's measurement did (:func:`note_embeddings`). ``"frames"``: the network runs once over the whole
        recording (peak-normalised as a whole) and each note's frames, from its onset to its end or ``n_frames``
        frames later, whichever comes first, are pooled: one pass instead of one per note, different numbers.
    n_frames : int
        Longest input of a note, in frames (187: 3 s).

    Returns
    -------
    analysis : Analysis
        The recording's notes (:func:`instrumentid.analysis.find_notes`).
    E : np.ndarray [shape=(n_notes, 1506), dtype=float32]
    """
    if per_note not in ("clip", "frames"):
        raise ParameterError(f"per_note must be 'clip' or 'frames', got {per_note!r}")
    found = find_notes(source, sr=sr)
    net = load_musicnn(model) if isinstance(model, str) else model
    starts = [int(round(n.start_s * found.sr)) for n in found.notes]
    if per_note == "clip" or not found.notes:
        return found, note_embeddings([found.y[s:] for s in starts], sr=found.sr, model=net, n_frames=n_frames)
    y = resample(found.y, orig_sr=found.sr, target_sr=MUSICNN_SR)
    mel = log_mel(y / max(float(np.max(np.abs(y))), 1e-9))
    maps = _run(net, [mel[None]], lambda m, x: m.frame_maps(x))[0]
    return found, pool_frames(maps, [(n.start_s, n.end_s) for n in found.notes], n_frames=n_frames)


def pool_frames(maps: np.ndarray, spans, *, n_frames: int = N_FRAMES) -> np.ndarray:
    """Mean and max over each span's frames of a recording's maps (:meth:`Musicnn.frame_maps`).

    Parameters
    ----------
    maps : np.ndarray [shape=(753, n_frames_total)]
    spans : sequence of (start_s, end_s)
        In seconds; frame ``t`` is centred on ``t * 256 / 16000`` s. At least one frame per span, at most
        ``n_frames``.

    Returns
    -------
    np.ndarray [shape=(len(spans), 1506), dtype=float32]
    """
    out = np.empty((len(spans), 2 * maps.shape[0]), np.float32)
    for i, (start_s, end_s) in enumerate(spans):
        a = min(int(round(start_s * MUSICNN_SR / HOP)), maps.shape[1] - 1)
        b = min(max(int(round(end_s * MUSICNN_SR / HOP)), a + 1), a + n_frames, maps.shape[1])
        out[i] = np.concatenate([maps[:, a:b].mean(axis=1), maps[:, a:b].max(axis=1)])
    return out
