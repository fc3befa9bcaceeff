"""The compute floor of an embedding network inside ``predict``: its convolutions over the best matrix-multiply rate.

    python benchmarks/predict_floor.py [--notes 20] [--frames 63] [--threads 2] [--repeat 5]

The shipped model (issue 13) runs MSD_musicnn (``instrumentid/data/musicnn/MSD_musicnn.onnx``, in ONNX Runtime) on
each note's first ``--frames`` frames. ONNX Runtime computes a convolution as one matrix product per note (its input
unfolded into rows: ``m`` output positions x ``k`` = input channels x kernel elements, times ``k`` x ``n`` output
channels). This script reads every convolution's shape from the network itself (its outputs' shapes from one run on
a note, its weights' from the file), counts their operations (2 m k n each) and divides each product by the best
float32 ``torch.matmul`` throughput at its own shape on this machine (``benchmarks/fit_floor.py``, 1 and
``--threads`` threads). Batch normalisation, activations, padding and the pools are not counted: the floor is a lower
bound of the network's time. ``benchmarks/run.py`` prints it beside the warm ``predict``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fit_floor  # noqa: E402 - benchmarks/ is on the path when run as a script

from instrumentid.pretrained import INPUT_NAME, N_MELS, network_path  # noqa: E402


def conv_products(network: str = "MSD_musicnn", *, n_frames: int = 63, n_notes: int = 1) -> list:
    """The convolutions of ``network`` on ``n_notes`` notes of ``n_frames`` frames, as matrix products.

    Returns
    -------
    list of fit_floor.Product
        One per convolution: ``m`` its output positions, ``k`` its input channels per group x kernel elements, ``n``
        its output channels (groups x channels per group), ``count`` ``n_notes`` x groups.
    """
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    model = onnx.load(str(network_path(network)))
    weights = {w.name: numpy_helper.to_array(w).shape for w in model.graph.initializer}
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    shown = {o.name for o in model.graph.output}
    model.graph.output.extend(helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT, None)
                              for node in convs if node.output[0] not in shown)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [node.output[0] for node in convs]
    outputs = session.run(names, {INPUT_NAME: np.zeros((1, n_frames, N_MELS), np.float32)})
    products = []
    for node, out in zip(convs, outputs, strict=True):
        w = weights[node.input[1]]
        groups = next((a.i for a in node.attribute if a.name == "group"), 1)
        m, k, n = int(np.prod(out.shape[2:])), int(np.prod(w[1:])), int(w[0]) // groups
        products.append(fit_floor.Product(node.name or node.output[0], m, k, n, n_notes * groups))
    return products


def embedding_floor(network: str = "MSD_musicnn", *, n_frames: int = 63, n_notes: int = 20, threads: int = 2,
                    repeat: int = 5) -> dict:
    """:func:`fit_floor.measure_floor` of ``network``'s convolutions on ``n_notes`` notes, with the network's name,
    ``n_notes`` and ``n_frames``."""
    products = conv_products(network, n_frames=n_frames, n_notes=n_notes)
    return {**fit_floor.measure_floor(products, threads=threads, repeat=repeat), "network": network,
            "n_notes": n_notes, "n_frames": n_frames}


def floor_line(floor: dict) -> str:
    """One line: the operations, the floor and the throughput it rests on."""
    rates = ", ".join(f"{shape} {s['gflops']:.0f} GFLOP/s" for shape, s in floor["shapes"].items())
    return (f"{floor['network']}'s convolutions on {floor['n_notes']} notes of {floor['n_frames']} frames: "
            f"{floor['flops'] / 1e9:.1f} GFLOP, floor {floor['floor_s']:.3f} s at each shape's best torch.matmul "
            f"throughput ({rates})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=20, help="notes (default 20: the benchmark's 16 s recording)")
    parser.add_argument("--frames", type=int, default=63, help="frames a note (default 63: the shipped model's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(floor_line(embedding_floor(n_frames=args.frames, n_notes=args.notes, threads=args.threads,
                                     repeat=args.repeat)))


if __name__ == "__main__":
    main()
