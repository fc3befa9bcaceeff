"""Write the musicnn networks that the shipped model's features run (``instrumentid/data/musicnn/<name>.onnx``).

Each network of :data:`instrumentid.pretrained.NETWORKS` is read from the musicnn wheel that the set-up installs
(``pip install --no-deps musicnn==0.1.0``; its TensorFlow checkpoint read with numpy), rebuilt in torch
(:mod:`instrumentid.embeddings`) and exported to ONNX without its tagging head
(:func:`instrumentid.embeddings.export_pools_onnx`). Then the file is checked: ONNX Runtime's pools of random
inputs of 1 s and 3 s must match torch's to 1e-5 of the largest pool. Run it again only when the export changes; the
files are committed with their licence (``instrumentid/data/musicnn/LICENSE``, musicnn's ISC licence).

Usage (from the repository root)::

    .venv/bin/python scripts/export_musicnn_onnx.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    import onnxruntime as ort
    import torch

    from instrumentid.embeddings import export_pools_onnx, load_musicnn
    from instrumentid.pretrained import FOLDER, INPUT_NAME, N_MELS, NETWORKS

    rng = np.random.default_rng(0)
    for name in NETWORKS:
        path = export_pools_onnx(FOLDER / f"{name}.onnx", name)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        net = load_musicnn(name)
        for frames in (63, 187):
            x = (rng.random((3, frames, N_MELS)) * 4).astype(np.float32)
            with torch.inference_mode():
                want = net(torch.from_numpy(x)).numpy()
            got = session.run(None, {INPUT_NAME: x})[0]
            err = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
            if err > 1e-5:
                raise SystemExit(f"{path}: ONNX Runtime differs from torch by {err:g} of the largest pool at "
                                 f"{frames} frames")
            print(f"{name}: {frames} frames, max |onnx - torch| = {err:.2g} of the largest pool")
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
