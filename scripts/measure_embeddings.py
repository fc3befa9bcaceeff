"""Measure embeddings of musicnn's pretrained networks under leave-one-source-out (issue 13's candidate); nothing ships.

Three stages:

1. ``inputs`` (project venv): every note of the default data set rendered again, row-aligned with the feature table
   (:func:`measure_cnn.rendered_table`), turned into musicnn's input by :func:`instrumentid.embeddings.note_input`:
   peak-normalised, resampled to 16 kHz, its first 2.98 s from the onset (zero-padded when shorter), a 96-band mel
   power spectrogram (n_fft 512, hop 256: 187 frames, as ``musicnn.extractor.batch_data``) rounded to float16 and
   compressed as log10(10000 x + 1); cached in ``<cache>/musicnn/patches-<key>.npy`` (16,812 x 187 x 96 float16,
   600 MB).
2. ``embed``: each musicnn network run on those inputs (the first ``--frames`` frames); writes
   ``<cache>/musicnn/patches-<key>.<model>-<frames>.npz`` with the layers named as musicnn's extractor names them
   (musicnn models: ``penultimate`` (200), ``mean_pool`` and ``max_pool`` (753 each), ``taggram`` (50 tag
   probabilities); vgg models: ``pool5`` flattened). ``--backend torch`` (default; project venv): the torch port of
   the two musicnn networks, :mod:`instrumentid.embeddings` (weights read from the wheel that the set-up installs;
   within 1e-5 of TensorFlow's outputs); ``--backend onnx``: the same exported to ONNX Runtime (about half the CPU
   time). ``--backend tf`` (any of the four networks, the vgg ones included):
   musicnn's own graph (``musicnn.models.define_model``, inference mode) in a throwaway TensorFlow venv.
3. ``measure`` (project venv): the LOSO protocol of ``scripts/measure_generalization.py`` (same folds, seeds and
   metrics) on recipes over these embeddings, next to the shipped MLP on the 120 features (:data:`RECIPES`). The
   MLPs follow :data:`instrumentid.settings.SHIPPED_TRAINING`: one network in the results below (five sources),
   five merged since the six-source set.

The TensorFlow venv (only for ``--backend tf``; the project never imports it): TensorFlow 2.21 with ``tf_keras`` for
``tf.compat.v1.layers``; musicnn's pinned numpy<1.17 and librosa are not needed by this stage, hence ``--no-deps``::

    python3 -m venv /work/tfvenv
    /work/tfvenv/bin/pip install tensorflow-cpu tf_keras platformdirs
    /work/tfvenv/bin/pip install --no-deps musicnn==0.1.0
    nice -n 19 .venv/bin/python scripts/measure_embeddings.py inputs            # prints the inputs' .npy path
    nice -n 19 .venv/bin/python scripts/measure_embeddings.py embed INPUTS.npy [--models MTT_musicnn MSD_musicnn] \
        [--frames 187]
    nice -n 19 /work/tfvenv/bin/python -W ignore scripts/measure_embeddings.py embed INPUTS.npy --backend tf \
        [--models MTT_musicnn MSD_musicnn MTT_vgg MSD_vgg] [--frames 187]
    nice -n 19 .venv/bin/python scripts/measure_embeddings.py measure [--embeddings MTT_musicnn:pools ...]
        [--recipes lr mlp mlp+features ensemble] [--seeds 1] [--frames 187] [--json OUT]

Results (the table is in README.md, "Accuracy"; seed 0 unless said): the shipped MLP on the 120 features scores a
LOSO mean of 61.6 %. Alone, MSD_musicnn's pools (mean and max over time of the front and mid-end, 1506) score 63.6 %,
MTT_musicnn's 61.2 %, the penultimate layers 54-55 %, the vgg pools 50-57 %; beside the 120 features in one MLP
57.0-64.7 % (MuseScore's piano can collapse). Averaged with the shipped MLP (recipe ``ensemble``): MSD_musicnn pools
67.2 % (every source >= 61.1 %), MTT_musicnn pools 64.7 %, MSD_musicnn penultimate 64.5 %, the vgg ones 61.8-64.0 %.
Over two seeds (``measure --embeddings MSD_musicnn:pools --recipes mlp ensemble --seeds 2``): shipped MLP 61.2 %,
MSD_musicnn pools 62.1 %, the two averaged 65.9 % (min 61.0 %): +4.7 points. The shipped MLP with the MLPs on
MSD_musicnn's and MTT_musicnn's pools: 67.7 % (seed 0; ``--embeddings MSD_musicnn:pools MTT_musicnn:pools``).
Logistic regression is far worse (MTT_vgg pool5 50.5 %) and slow on the 1506-wide pools (over 12 minutes for five
folds): the musicnn runs above left it out (``--recipes mlp mlp+features ensemble``).

Shorter inputs (``embed --frames 63 --backend onnx``, ``measure --frames 63``; 2 seeds, ensemble): the first 1 s of each
note 66.9 % (min 59.6 %), the first 0.5 s 66.2 % (MuseScore's piano 59.3 %), against 65.9 % for 3 s; the MLP alone
63.1 % and 62.3 %. 1 s is what fits ``predict``'s budget (``benchmarks/musicnn_cost.py``).

Costs on 2 cores shared with other jobs (load 6-12): inputs 3.6 minutes; embed 7 minutes for a vgg model, 28 for a
musicnn model (3 s inputs, TensorFlow), 6-8 minutes with the torch port in ONNX Runtime (1 s or 0.5 s inputs, load
7); measure 15-45 s per fold and recipe.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from instrumentid.settings import SR

#: musicnn's input (``musicnn.configuration`` and ``extractor``): sample rate (Hz), FFT size and hop (samples), mel
#: bands, frames of a 3 s patch.
MUSICNN_SR, MUSICNN_FFT, MUSICNN_HOP, MUSICNN_MELS, MUSICNN_FRAMES = 16000, 512, 256, 96, 187
#: Bump when :func:`musicnn_input` changes what it computes.
INPUT_VERSION = 2
INPUT_SETTINGS = {"version": INPUT_VERSION, "sr": MUSICNN_SR, "n_fft": MUSICNN_FFT, "hop": MUSICNN_HOP,
                  "n_mels": MUSICNN_MELS, "n_frames": MUSICNN_FRAMES}
#: The checkpoints in the musicnn wheel.
MODELS = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")


def musicnn_input(y: np.ndarray) -> np.ndarray:
    """One note as musicnn's input patch (:func:`instrumentid.embeddings.note_input`), stored as float16.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        The note at :data:`~instrumentid.settings.SR`, from its onset.

    Returns
    -------
    np.ndarray [shape=(MUSICNN_FRAMES, MUSICNN_MELS), dtype=float16]
        log10(10000 x + 1) of the mel power spectrogram (x rounded to float16 first, as musicnn does; the product in
        float32): the same bits as the librosa code of input version 2 (``librosa.feature.melspectrogram``).
    """
    from instrumentid.embeddings import note_input

    return note_input(y, sr=SR, n_frames=MUSICNN_FRAMES).astype(np.float16)


def input_table(*, jobs: int | None) -> tuple:
    """musicnn inputs of every note of the default data set, row-aligned with its feature table (cached).

    Returns
    -------
    P : np.ndarray [shape=(n_notes, MUSICNN_FRAMES, MUSICNN_MELS), dtype=float16]
    X, meta, info
        As :func:`measure_cnn.rendered_table`.
    """
    from measure_cnn import rendered_table

    return rendered_table("musicnn", musicnn_input, INPUT_SETTINGS, (MUSICNN_FRAMES, MUSICNN_MELS), jobs=jobs)


def embeddings_path(inputs: Path, model: str, frames: int) -> Path:
    """Where stage ``embed`` writes ``model``'s embeddings of the inputs file ``inputs`` (``frames`` input frames)."""
    frames = MUSICNN_FRAMES if "vgg" in model else frames
    return inputs.with_name(f"{inputs.stem}.{model}-{frames}.npz")


def embed(inputs: Path, model: str, *, frames: int = MUSICNN_FRAMES, batch: int = 64, backend: str = "torch",
          threads: int = 2) -> dict:
    """Run one musicnn network on every input patch: the torch port, or musicnn's own graph (TensorFlow).

    ``backend="torch"`` (the musicnn models only, project venv): :class:`instrumentid.embeddings.Musicnn` with the
    wheel's weights (``tests/test_embeddings.py``: within 1e-5 of TensorFlow's outputs), ``threads`` torch threads.
    ``backend="tf"`` (any model; the TF venv, with TensorFlow and tf_keras):

    The graph is musicnn's own (``musicnn.models.define_model`` under the name scope ``model``, as
    ``musicnn.extractor.extractor`` builds it), restored from the wheel's checkpoint, run in inference mode.

    Parameters
    ----------
    inputs : Path
        The cached inputs of stage ``inputs`` (np.ndarray [shape=(n_notes, MUSICNN_FRAMES, MUSICNN_MELS)]).
    model : str
        One of :data:`MODELS`.
    frames : int
        The first ``frames`` frames of each patch are the input of the musicnn models (fully convolutional over
        time, pooled over it); the vgg models always take :data:`MUSICNN_FRAMES`.
    batch : int
        Patches per TensorFlow run.

    Returns
    -------
    dict of str to np.ndarray [shape=(n_notes, d), dtype=float32]
        ``taggram`` (sigmoid of the logits, 50 tags) and, for the musicnn models, ``penultimate`` (200),
        ``mean_pool`` and ``max_pool`` (753 each, the mid-end's features pooled over time); for the vgg models,
        ``pool5`` flattened (256) and ``pool4`` averaged over time and frequency (128).
    """
    if backend in ("torch", "onnx"):
        return embed_torch(inputs, model, frames=frames, batch=batch, threads=threads, onnx=backend == "onnx")
    import os

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # musicnn uses tf.compat.v1.layers: Keras 2 (tf_keras)
    import musicnn
    import tensorflow as tf
    from musicnn import configuration, models

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    labels = configuration.MTT_LABELS if model.startswith("MTT") else configuration.MSD_LABELS
    frames = MUSICNN_FRAMES if "vgg" in model else frames
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, frames, MUSICNN_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        out = models.define_model(x, is_training, model, len(labels))
    if "vgg" in model:
        fetch = {"taggram": tf.nn.sigmoid(out[0]), "pool5": tf.compat.v1.layers.flatten(out[5]),
                 "pool4": tf.reduce_mean(out[4], axis=[1, 2])}
    else:
        fetch = {"taggram": tf.nn.sigmoid(out[0]), "penultimate": out[8], "mean_pool": out[6], "max_pool": out[7]}
    P = np.load(inputs, mmap_mode="r")
    parts: dict = {k: [] for k in fetch}
    with tf.compat.v1.Session() as sess:
        tf.compat.v1.train.Saver().restore(sess, str(Path(musicnn.__file__).parent / model) + "/")
        for k in range(0, len(P), batch):
            got = sess.run(fetch, feed_dict={x: np.asarray(P[k : k + batch, :frames], dtype=np.float32),
                                                  is_training: False})
            for name, v in got.items():
                parts[name].append(v.astype(np.float32))
            if k // batch % 20 == 0:
                print(f"  {model}: {k + len(got['taggram'])}/{len(P)}", file=sys.stderr, flush=True)
    return {k: np.concatenate(v) for k, v in parts.items()}


#: The layers of stage ``embed``'s torch port, in the order of :func:`_ported`'s outputs.
PORT_LAYERS = ("taggram", "penultimate", "mean_pool", "max_pool")


def _ported(model: str):
    """The torch port of ``model`` as one module: input patches -> :data:`PORT_LAYERS`."""
    import torch

    from instrumentid.embeddings import MODELS as PORTED
    from instrumentid.embeddings import load_musicnn

    if model not in PORTED:
        raise SystemExit(f"{model} has no torch port (only {', '.join(PORTED)}): use --backend tf in the TF venv")

    class Layers(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = load_musicnn(model)

        def forward(self, x):
            pools = self.net(x)
            penultimate, logits = self.net.head(pools)
            half = pools.shape[1] // 2
            return torch.sigmoid(logits), penultimate, pools[:, :half], pools[:, half:]

    return Layers().eval()


def embed_torch(inputs: Path, model: str, *, frames: int, batch: int, threads: int, onnx: bool = False) -> dict:
    """Stage ``embed`` with the torch port (:mod:`instrumentid.embeddings`), in torch or exported to ONNX Runtime
    (float32, the same numbers to about 1e-6, half the CPU time on this machine): the keys of :func:`embed`."""
    import tempfile

    import torch

    torch.set_num_threads(threads)
    layers = _ported(model)
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        run = lambda x: [v.numpy() for v in layers(torch.from_numpy(x))]  # noqa: E731
        if onnx:
            import onnxruntime as ort

            path = str(Path(tmp) / "musicnn.onnx")
            torch.onnx.export(layers, (torch.zeros(2, frames, 96),), path, input_names=["x"],
                              output_names=list(PORT_LAYERS), dynamic_axes={"x": {0: "batch"}}, dynamo=False)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
            session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            run = lambda x: session.run(None, {"x": x})  # noqa: E731
        P = np.load(inputs, mmap_mode="r")
        parts: dict = {k: [] for k in PORT_LAYERS}
        for k in range(0, len(P), batch):
            for name, v in zip(PORT_LAYERS, run(np.asarray(P[k : k + batch, :frames], dtype=np.float32)), strict=True):
                parts[name].append(v)
            if k // batch % 20 == 0:
                print(f"  {model} ({'onnx' if onnx else 'torch'}): {min(k + batch, len(P))}/{len(P)}",
                      file=sys.stderr, flush=True)
    return {k: np.concatenate(v) for k, v in parts.items()}


#: Embeddings of stage ``measure``: ``model:layer``, layer one of :func:`embed`'s keys or ``pools`` (``mean_pool`` and
#: ``max_pool`` side by side).
EMBEDDINGS = ("MTT_musicnn:penultimate", "MTT_musicnn:pools", "MTT_musicnn:taggram", "MSD_musicnn:penultimate",
              "MSD_musicnn:pools", "MTT_vgg:pool5", "MTT_vgg:pool4", "MSD_vgg:pool5")
#: Recipes on an embedding E: logistic regression on standardised E; the shipped MLP recipe on E; the same on E and
#: the 120 features side by side; the mean of the probabilities of the shipped MLP (120 features) and the MLP on E
#: (with several embeddings, also the mean of the shipped MLP's and every embedding MLP's).
RECIPES = ("lr", "mlp", "mlp+features", "ensemble")
#: Logistic regression: inverse regularisation strength, iterations.
LR_C, LR_ITER = 0.1, 500


def load_embedding(inputs: Path, name: str, frames: int) -> np.ndarray:
    """The embedding ``model:layer`` (:data:`EMBEDDINGS`) of every note: np.ndarray [shape=(n_notes, d)]."""
    model, _, layer = name.partition(":")
    if model not in MODELS or not layer:
        raise SystemExit(f"embedding {name!r}: expected MODEL:LAYER with MODEL one of {', '.join(MODELS)}")
    path = embeddings_path(inputs, model, frames)
    if not path.exists():
        raise SystemExit(f"{path} is missing: run stage 'embed' (TF venv) with --models {model} --frames {frames}")
    with np.load(path) as z:
        layers = [*z.files, *(["pools"] if "mean_pool" in z.files else [])]
        if layer not in layers:
            raise SystemExit(f"embedding {name!r}: {model} has the layers {', '.join(layers)}")
        return np.hstack([z["mean_pool"], z["max_pool"]]) if layer == "pools" else z[layer]


def train_lr_logits(E: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Logistic regression on standardised ``E[train]``; its logits of ``E[test]`` (deterministic: no seed)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=LR_C, max_iter=LR_ITER))
    return clf.fit(E[train], y[train]).decision_function(E[test])


def measure(args) -> int:
    """Stage ``measure``: the LOSO table of every recipe on every embedding, with the shipped MLP's row."""
    import torch
    from measure_cnn import train_mlp_logits

    from instrumentid.calibration import softmax
    from instrumentid.datasets.programs import DEFAULT_CLASSES

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    P, X, meta, info = input_table(jobs=2)
    from measure_cnn import rendered_path

    inputs = rendered_path("musicnn", INPUT_SETTINGS, info["cache_key"])
    y = np.array([m["label"] for m in meta])
    src = np.array([m["source"] for m in meta])
    names = list(dict.fromkeys(src.tolist()))
    C, seeds = len(DEFAULT_CLASSES), range(args.seeds)
    print(f"{len(y)} notes from {', '.join(names)} (table {info['cache_key']}); LOSO, mean of {args.seeds} seed(s); "
          f"musicnn input {args.frames} frames\n")
    header = ["recipe", *names, "mean", "min", "s/fold"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    figures: dict = {"notes": len(y), "sources": names, "seeds": args.seeds, "frames": args.frames, "rows": {}}

    def row(name: str, held: dict, seconds: float) -> None:
        loso = [float(np.mean([np.mean(z.argmax(1) == y[src == n]) for z in held[n]])) for n in names]
        figures["rows"][name] = {"loso": dict(zip(names, loso, strict=True)), "loso_mean": float(np.mean(loso)),
                                 "loso_min": float(np.min(loso))}
        cells = [f"{100 * a:.1f} %" for a in [*loso, np.mean(loso), np.min(loso)]]
        print(f"| {name} | " + " | ".join(cells) + f" | {seconds:.0f} |", flush=True)

    def run(name: str, fn) -> dict:
        """Row ``name`` from ``fn(held_out_source, seed)`` -> logits of that source's notes."""
        t = time.perf_counter()
        held = {n: [fn(n, s) for s in seeds] for n in names}
        row(name, held, (time.perf_counter() - t) / len(names) / args.seeds)
        return held

    embeddings = {name: load_embedding(inputs, name, args.frames) for name in args.embeddings}
    mlps: list = []  # per embedding: held-out logits of its MLP, per source and seed

    def mean_probability(models: list) -> dict:
        """Log of the mean of the models' probabilities, per held-out source and seed."""
        return {n: [np.log(np.mean([softmax(m[n][k]) for m in models], axis=0)) for k in range(args.seeds)]
                for n in names}

    base = run("MLP shipped (120 features)",
               lambda n, s: train_mlp_logits(X, y, src != n, [src == n], seed=s, n_classes=C)[0])
    for emb_name, E in embeddings.items():
        label = f"{emb_name} ({E.shape[1]})"
        if "lr" in args.recipes:
            run(f"{label}: lr", lambda n, s, E=E: train_lr_logits(E, y, src != n, src == n))
        if "mlp+features" in args.recipes:
            EX = np.hstack([E, X])
            run(f"{label} + 120 features: mlp",
                lambda n, s, EX=EX: train_mlp_logits(EX, y, src != n, [src == n], seed=s, n_classes=C)[0])
        if "mlp" in args.recipes or "ensemble" in args.recipes:
            mlp = run(f"{label}: mlp",
                      lambda n, s, E=E: train_mlp_logits(E, y, src != n, [src == n], seed=s, n_classes=C)[0])
        if "ensemble" in args.recipes:
            mlps.append(mlp)
            row(f"{label}: mlp, with the shipped MLP (mean probability)", mean_probability([base, mlp]), 0.0)
    if len(mlps) > 1:
        row("the shipped MLP and every embedding's MLP above (mean probability)", mean_probability([base, *mlps]), 0.0)
    figures["seconds"] = round(time.perf_counter() - t0)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    print(f"\n({figures['seconds']} s)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="stage", required=True)
    p_in = sub.add_parser("inputs", help="render the notes and cache musicnn's inputs (project venv)")
    p_in.add_argument("--jobs", type=int, default=2)
    p_emb = sub.add_parser("embed", help="run musicnn's networks on the cached inputs (torch port, or TF venv)")
    p_emb.add_argument("inputs", type=Path, help="the .npy file stage 'inputs' printed")
    p_emb.add_argument("--models", nargs="+", default=None, choices=MODELS,
                       help="default: the musicnn models (backend torch), all four (backend tf)")
    p_emb.add_argument("--frames", type=int, default=MUSICNN_FRAMES,
                       help=f"input frames of the musicnn models (default {MUSICNN_FRAMES}: 3 s)")
    p_emb.add_argument("--backend", choices=["torch", "onnx", "tf"], default="torch",
                       help="torch: instrumentid.embeddings (musicnn models, project venv; default); onnx: the same "
                            "exported to ONNX Runtime; tf: musicnn's own graph (any model, TF venv)")
    p_emb.add_argument("--threads", type=int, default=2, help="torch / ONNX Runtime threads")
    p_me = sub.add_parser("measure", help="leave-one-source-out on the embeddings (project venv)")
    p_me.add_argument("--embeddings", nargs="+", default=list(EMBEDDINGS), help="model:layer names")
    p_me.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    p_me.add_argument("--frames", type=int, default=MUSICNN_FRAMES, help="as stage 'embed' (musicnn models)")
    p_me.add_argument("--seeds", type=int, default=1, help="training seeds averaged per cell (default 1)")
    p_me.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p_me.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = ap.parse_args(argv)
    if args.stage == "measure":
        return measure(args)
    if args.stage == "inputs":
        from measure_cnn import rendered_path

        P, _, _, info = input_table(jobs=args.jobs)
        print(f"musicnn inputs: {P.shape} {P.dtype}: {rendered_path('musicnn', INPUT_SETTINGS, info['cache_key'])}")
    elif args.stage == "embed":
        models = args.models or ([m for m in MODELS if "musicnn" in m] if args.backend != "tf" else MODELS)
        for model in models:
            t = time.perf_counter()
            emb = embed(args.inputs, model, frames=args.frames, backend=args.backend, threads=args.threads)
            np.savez(embeddings_path(args.inputs, model, args.frames), **emb)
            print(f"{model}: " + ", ".join(f"{k} {v.shape[1]}" for k, v in emb.items())
                  + f" ({time.perf_counter() - t:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
