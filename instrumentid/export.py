"""Export a fitted classifier to ONNX: raw features in, class probabilities out.

The exported graph standardizes with the classifier's scaler statistics, runs the network, divides the logits by
the classifier's calibrated temperature (``temperature_``, 1 when uncalibrated) and applies a softmax, so any ONNX
runtime gives the probabilities of :meth:`InstrumentClassifier.predict_proba` on the same 120 raw features. The
batch axis is dynamic. The class names and the note and feature settings (``null`` when unknown) travel
in the model's ``metadata_props`` as JSON strings::

    import json, onnx, onnxruntime
    meta = {p.key: p.value for p in onnx.load("model.onnx").metadata_props}
    names = json.loads(meta["class_names"])
    probs = onnxruntime.InferenceSession("model.onnx").run(None, {"features": X.astype("float32")})[0]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from instrumentid.errors import ParameterError
from instrumentid.util import atomic_file

__all__ = ["INPUT_NAME", "OPSET", "OUTPUT_NAME", "export_onnx"]

INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"
OPSET = 17


def _probability_module(clf):
    """A torch module: raw features -> standardize (in float64) -> network -> logits / temperature -> softmax.

    The standardization runs in float64, as in ``predict_proba`` and the numpy runtime: musicnn's pools have means up
    to 50 and scales down to 0.01, where float32 rounding of ``x - mean`` moved the shipped model's probabilities by
    3e-4.
    """
    import torch

    class _Probabilities(torch.nn.Module):
        def __init__(self, net, mean, scale, temperature):
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float64))
            self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float64))
            self.register_buffer("temperature", torch.tensor(temperature, dtype=torch.float32))

        def forward(self, features):
            standardized = ((features.double() - self.mean) / self.scale).float()
            return torch.softmax(self.net(standardized) / self.temperature, dim=1)

    return _Probabilities(clf.model_, clf.scaler_.mean_, clf.scaler_.scale_, clf.temperature_).eval()


def export_onnx(clf, path, *, metadata=None) -> Path:
    """Write ``clf`` as an ONNX model taking raw features and returning class probabilities.

    Parameters
    ----------
    clf : InstrumentClassifier
        Fitted or loaded classifier.
    path : str or Path
        ``.onnx`` file to write; written to a temporary file and renamed when complete.
    metadata : dict of str -> str, optional
        More ``metadata_props`` (``instrumentid export`` adds the model card and training record,
        :func:`instrumentid.modelcard.card_metadata`); a key of the export's own metadata is refused.

    Returns
    -------
    Path
        The ONNX file. Input ``features`` float32 [shape=(batch, n_features)], output ``probabilities`` float32
        [shape=(batch, n_classes)], column ``j`` for ``class_names[j]``.

    Raises
    ------
    NotFittedError
        ``clf`` is not fitted.
    ParameterError
        ``path`` is a folder, or ``metadata`` is not a str -> str mapping or reuses a key of the export's own.
    """
    import onnx
    import torch

    from instrumentid import __version__

    clf._check_fitted()
    path = Path(path)
    if path.is_dir():
        raise ParameterError(f"ONNX output must be a file path, got the folder {str(path)!r}")
    module = _probability_module(clf)
    example = torch.from_numpy(np.asarray(clf.scaler_.mean_, dtype=np.float32)[None, :].repeat(2, axis=0))
    with atomic_file(path) as tmp:
        with torch.no_grad():
            torch.onnx.export(
                module, (example,), tmp, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=OPSET, dynamo=False,
            )
        proto = onnx.load(tmp)
        meta = {
            "class_names": json.dumps([str(c) for c in clf.classes_]),
            "n_features": str(int(clf.n_features_in_)),
            **{name: json.dumps(None if getattr(clf, name, None) is None else getattr(clf, name).to_dict())
               for name in ("feature_settings", "note_settings")},
            "producer": f"instrumentid {__version__}",
            # the config the model was saved with (no tensors), read back by `instrumentid model info`
            "instrumentid_model": json.dumps(clf.to_config()[0], default=str),
        }
        extra = dict(metadata or {})
        clash = sorted(set(extra) & set(meta))
        if clash or not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
            raise ParameterError(f"metadata must map new keys (not {sorted(meta)}) to strings, got keys "
                                 f"{sorted(map(str, extra))}")
        onnx.helper.set_model_props(proto, {**meta, **extra})
        proto.producer_name = "instrumentid"
        proto.producer_version = __version__
        proto.doc_string = ("raw note features -> class probabilities (standardization, calibrated temperature "
                            "and softmax inside)")
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)
    return path
