"""What musicnn's MSD_musicnn network (the torch port, ``instrumentid.embeddings``) would cost inside ``predict``.

    python benchmarks/musicnn_cost.py [--threads 2] [--repeat 5] [--variants fp32 channels_last bf16 onnx ...]
        [--json OUT]

Issue 13's budget: warm ``predict`` of a 16 s recording under 0.3 s on 2 cores; the rest of ``predict`` takes
about 0.15 s. Measured on the lab's example recording (:func:`instrumentid.datasets.render.lab_example`: a soprano
saxophone, 4 notes over 16.25 s), best of ``--repeat`` warm runs each (one call first), torch with ``--threads``
intra-op threads:

- ``predict``: today's warm ``predict`` of the recording (the shipped model; no musicnn);
- ``inputs``: musicnn's input of every note (:func:`~instrumentid.embeddings.note_input`: resample to 16 kHz,
  log-mel, 187 frames each), and of the whole recording at once (:func:`~instrumentid.embeddings.log_mel`);
- the network, per variant (:data:`VARIANTS`) and shape: one 3 s note (1 x 187 frames), a batch of 16 notes
  (16 x 187), the recording's notes in one batch (4 x 187), shorter windows (4 x 94: 1.5 s, 4 x 63: 1 s), and the
  whole recording at once (1 x 1016 frames: the front and mid-end, then each note's frames pooled,
  :func:`~instrumentid.embeddings.pool_frames`; the cheaper way ``predict`` could use it, with other numbers);
- for the variants that change the numbers (bfloat16), the largest deviation of the pools from float32's, relative
  to each note's largest value.

The last table adds the inputs' cost and today's ``predict`` to each way of running the network on the recording's
notes: the warm ``predict`` it would make, against the 0.3 s budget. Timings on a shared machine are noisy: the
load average is printed with them.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Ways of running the network: eager float32 (``torch.inference_mode``), the same under ``torch.no_grad``,
#: channels-last memory format for the 2-D convolutions, bfloat16 autocast, bfloat16 weights and inputs, the same in
#: channels-last format (oneDNN's bfloat16 kernels: AMX on processors that have it), ONNX Runtime (float32, the
#: exported graph).
VARIANTS = ("fp32", "no_grad", "channels_last", "bf16_autocast", "bf16", "bf16_channels_last", "onnx")


def shapes(k: int) -> dict:
    """Input shapes (notes, frames) of the per-note runs, by name, for a recording of ``k`` notes."""
    return {"1 note x 3 s": (1, 187), "16 notes x 3 s": (16, 187), f"{k} notes x 3 s": (k, 187),
            f"{k} notes x 1.5 s": (k, 94), f"{k} notes x 1 s": (k, 63)}


def best(fn, repeat: int) -> float:
    """Best wall time of ``fn()`` over ``repeat`` calls, after one call."""
    return best_of({"": fn}, repeat)[""][0]


def best_of(fns: dict, repeat: int) -> dict:
    """Per name, the best wall time and the best process CPU time of ``fns[name]()`` over ``repeat`` calls.

    One call of each first; then the functions take turns (round-robin), so that the load of a shared machine
    weighs on them alike.
    """
    for fn in fns.values():
        fn()
    out = {name: [float("inf"), float("inf")] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            out[name] = [min(out[name][0], time.perf_counter() - wall), min(out[name][1], time.process_time() - cpu)]
    return out


def runner(variant: str, net, folder: Path, threads: int):
    """``run(x)`` -> pools (np.ndarray [shape=(batch, 1506)]) and ``maps(x)`` -> frame maps, for one variant."""
    import torch

    if variant == "onnx":
        import onnxruntime as ort

        paths = {}
        for name, module in (("pools", net), ("maps", _Maps(net))):
            paths[name] = folder / f"musicnn-{name}.onnx"
            torch.onnx.export(module, (torch.zeros(2, 187, 96),), str(paths[name]), input_names=["x"],
                              output_names=["y"], dynamic_axes={"x": {0: "batch", 1: "frames"}}, dynamo=False)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        sessions = {k: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
                    for k, p in paths.items()}
        return (lambda x: sessions["pools"].run(None, {"x": x})[0],
                lambda x: sessions["maps"].run(None, {"x": x})[0])
    model = net
    if variant == "channels_last":
        model = copy.deepcopy(net).to(memory_format=torch.channels_last)
    elif variant.startswith("bf16_channels"):
        model = copy.deepcopy(net).to(torch.bfloat16).to(memory_format=torch.channels_last)
    elif variant == "bf16":
        model = copy.deepcopy(net).to(torch.bfloat16)
    context = torch.no_grad if variant == "no_grad" else torch.inference_mode

    def call(fn, x):
        with context():
            t = torch.from_numpy(x)
            if variant in ("bf16", "bf16_channels_last"):
                return fn(t.to(torch.bfloat16)).float().numpy()
            if variant == "bf16_autocast":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return fn(t).float().numpy()
            return fn(t).numpy()

    return (lambda x: call(model, x)), (lambda x: call(model.frame_maps, x))


class _Maps:
    """A module whose forward is :meth:`Musicnn.frame_maps` (for the ONNX export)."""

    def __new__(cls, net):
        import torch

        class Maps(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = net

            def forward(self, x):
                return self.net.frame_maps(x)

        return Maps().eval()  # torch.onnx.export restores the wrapper's mode, and so its submodules', afterwards


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch (and ONNX Runtime) intra-op threads (default 2)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each measurement, the best kept")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = ap.parse_args(argv)

    import torch

    from instrumentid.datasets.render import lab_example
    from instrumentid.embeddings import MUSICNN_SR, load_musicnn, log_mel, note_input, pool_frames
    from instrumentid.prediction import load_model, predict
    from instrumentid.settings import SR

    torch.set_num_threads(args.threads)
    out: dict = {"threads": args.threads, "load_before": os.getloadavg()}
    y = lab_example()
    clf = load_model(None)
    result = predict(y, sr=SR, model=clf)
    spans = [(p.note.start_s, p.note.end_s) for p in result.notes]
    starts = [int(round(s * SR)) for s, _ in spans]
    out["predict_s"] = best(lambda: predict(y, sr=SR, model=clf), args.repeat)
    out["n_notes"], out["duration_s"] = len(spans), len(y) / SR
    print(f"lab example: {out['duration_s']:.2f} s, {len(spans)} notes; torch threads {args.threads}; "
          f"load {out['load_before'][0]:.1f}")
    print(f"today's warm predict: {out['predict_s']:.3f} s")

    from instrumentid.audio import resample

    def whole_input():
        y16 = resample(y, orig_sr=SR, target_sr=MUSICNN_SR)
        return log_mel(y16 / max(float(np.abs(y16).max()), 1e-9))

    out["inputs_notes_s"] = best(lambda: [note_input(y[s:], sr=SR) for s in starts], args.repeat)
    out["inputs_whole_s"] = best(whole_input, args.repeat)
    mel = whole_input()[None]
    print(f"inputs: {len(spans)} notes x 187 frames {out['inputs_notes_s']:.3f} s; whole recording "
          f"({mel.shape[1]} frames) {out['inputs_whole_s']:.3f} s\n")

    net = load_musicnn("MSD_musicnn")
    notes = np.stack([note_input(y[s:], sr=SR) for s in starts])
    SHAPES = shapes(len(notes))
    with tempfile.TemporaryDirectory() as tmp:
        runners = {v: runner(v, net, Path(tmp), args.threads) for v in args.variants}
        cells: dict = {v: {} for v in args.variants}
        for name, (n, frames) in SHAPES.items():
            x = np.ascontiguousarray(np.resize(notes, (n, 187, 96))[:, :frames])  # the notes, repeated
            got = best_of({v: (lambda run=run, x=x: run(x)) for v, (run, _) in runners.items()}, args.repeat)
            for v in args.variants:
                cells[v][name] = got[v]
        got = best_of({v: (lambda maps=maps: pool_frames(maps(mel)[0], spans)) for v, (_, maps) in runners.items()},
                      args.repeat)
        pools = {v: run(notes) for v, (run, _) in runners.items()}
    reference = pools.get("fp32", next(iter(pools.values())))
    rows: dict = {}
    header = ["variant", *SHAPES, f"whole recording (1 x {mel.shape[1]}) + pooling", "deviation from fp32"]
    print("wall time, best of the runs (CPU seconds of the process in brackets)\n")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for v in args.variants:
        row = {**cells[v], "whole": got[v]}
        row["deviation"] = float(np.max(np.abs(pools[v] - reference) / np.abs(reference).max(axis=1, keepdims=True)))
        rows[v] = row
        text = [f"{row[k][0]:.3f} s ({row[k][1]:.2f})" for k in [*SHAPES, "whole"]] + [f"{row['deviation']:.1e}"]
        print(f"| {v} | " + " | ".join(text) + " |")
    out["rows"] = rows

    k = len(spans)
    paths = {f"per note, 3 s, one batch of {k}": (f"{k} notes x 3 s", out["inputs_notes_s"]),
             f"per note, 1 s, one batch of {k}": (f"{k} notes x 1 s", out["inputs_notes_s"] * 63 / 187),
             "whole recording, pooled per note": ("whole", out["inputs_whole_s"])}
    print(f"\nwarm predict with musicnn's pools of the {k} notes: today's {out['predict_s']:.3f} s + inputs + the "
          f"network (wall; in brackets with the network's CPU seconds / {args.threads} threads, what an idle machine "
          "would take at best); budget 0.3 s:\n")
    print("| variant | " + " | ".join(paths) + " |\n|" + "---|" * (len(paths) + 1))
    estimate = {}
    for variant, row in rows.items():
        est = {p: (out["predict_s"] + extra + row[cell][0], out["predict_s"] + extra + row[cell][1] / args.threads)
               for p, (cell, extra) in paths.items()}
        estimate[variant] = est
        print(f"| {variant} | " + " | ".join(f"{a:.3f} s ({b:.3f} s)" for a, b in est.values()) + " |")
    out["estimate"] = estimate
    out["load_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nload average before {out['load_before'][0]:.1f}, after {out['load_after'][0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
