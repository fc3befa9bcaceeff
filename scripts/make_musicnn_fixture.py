"""Regenerate the TensorFlow references of the musicnn port's tests (``tests/golden/musicnn/``); needs a TF venv.

Run from the project venv; the script runs itself again under ``--tf-python`` (the throwaway TensorFlow venv of
``scripts/measure_embeddings.py``'s docstring: tensorflow-cpu, tf_keras, musicnn --no-deps) for the TensorFlow part::

    PYTHONPATH=$PWD .venv/bin/python scripts/make_musicnn_fixture.py --tf-python /work/tfvenv/bin/python

It writes

- ``musicnn_parity.npz``: the inputs of a few fixed synthetic notes (:func:`instrumentid.embeddings.note_input` of
  :func:`notes`: 187-frame patches, float16 values) and, per musicnn network of :data:`MODELS` and input length of
  :data:`FRAMES`, what musicnn's own TensorFlow graph computes from them (``scripts/measure_embeddings.py``'s
  ``embed``: mean_pool, max_pool, penultimate, taggram), about 200 KB;
- ``tfbundle/ckpt.index`` and ``ckpt.data-00000-of-00001``: a small TF1 checkpoint (``tf.compat.v1.train.Saver``)
  of variables of several dtypes and shapes, and ``tfbundle/expected.npz``, their values as TensorFlow reads them back
  (``tf.train.load_checkpoint``), for ``tests/test_tfcheckpoint.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "golden" / "musicnn"
#: The networks and input lengths (frames) referenced.
MODELS, FRAMES = ("MSD_musicnn", "MTT_musicnn"), (187, 100)
#: Sample rate of :func:`notes` (the analysis rate).
SR = 22050


def notes() -> list[np.ndarray]:
    """Four fixed notes at :data:`SR`: a decaying harmonic tone (220 Hz), a bowed-like tone with vibrato (660 Hz), a
    noise burst, and a short quiet 1 kHz blip followed by silence (zero-padded by the input)."""
    rng = np.random.default_rng(13)
    t = np.arange(int(3.2 * SR)) / SR
    tone = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 9)) * np.exp(-1.5 * t)
    phase = 2 * np.pi * np.cumsum(660 * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))) / SR
    bowed = sum(np.sin(k * phase) / k**1.5 for k in range(1, 6)) * np.minimum(1, t / 0.2)
    noise = rng.standard_normal(t.size) * np.exp(-4 * t)
    blip = 0.01 * np.sin(2 * np.pi * 1000 * t[: SR // 5])
    return [np.asarray(y, dtype=np.float32) for y in (tone, bowed, noise, blip)]


def tf_stage(inputs: Path, out: Path, bundle: Path) -> None:
    """In the TF venv: musicnn's outputs of ``inputs`` (.npy) into ``out`` (.npz); the small checkpoint into
    ``bundle``."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from measure_embeddings import embed

    refs = {}
    for model in MODELS:
        for frames in FRAMES:
            for name, value in embed(inputs, model, frames=frames).items():
                refs[f"{model}/{frames}/{name}"] = value
    np.savez_compressed(out, **refs)

    import tensorflow as tf

    tf.compat.v1.reset_default_graph()
    values = {"dense/kernel": np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4),
              "dense/bias": np.array([0.5, -0.25, 3.0], np.float32),
              "step": np.int64(123456789012),
              "counts": np.arange(-3, 4, dtype=np.int32),
              "half/w": np.array([[1.5, -2.0], [65504.0, 6e-5]], np.float16),
              "scale": np.float64(np.pi)}
    for name, value in values.items():
        tf.compat.v1.Variable(value, name=name)
    bundle.mkdir(parents=True, exist_ok=True)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().save(sess, str(bundle / "ckpt"), write_meta_graph=False)
    (bundle / "checkpoint").unlink(missing_ok=True)
    reader = tf.train.load_checkpoint(str(bundle / "ckpt"))
    np.savez(bundle / "expected.npz", **{name: reader.get_tensor(name) for name in values})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tf-python", default="/work/tfvenv/bin/python", help="python of the TensorFlow venv")
    ap.add_argument("--stage", choices=["all", "tf"], default="all", help=argparse.SUPPRESS)
    ap.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage == "tf":
        tf_stage(*args.paths)
        return 0
    sys.path.insert(0, str(ROOT))
    from instrumentid.embeddings import note_input

    P = np.stack([note_input(y, sr=SR) for y in notes()])
    with tempfile.TemporaryDirectory() as tmp:
        inputs, refs = Path(tmp) / "inputs.npy", Path(tmp) / "refs.npz"
        np.save(inputs, P.astype(np.float16))
        subprocess.run([args.tf_python, "-W", "ignore", __file__, "--stage", "tf", str(inputs), str(refs),
                        str(OUT / "tfbundle")], check=True)
        with np.load(refs) as z:
            np.savez_compressed(OUT / "musicnn_parity.npz", inputs=P.astype(np.float16), **dict(z))
    print(f"wrote {OUT / 'musicnn_parity.npz'} ({(OUT / 'musicnn_parity.npz').stat().st_size} bytes) and "
          f"{OUT / 'tfbundle'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
