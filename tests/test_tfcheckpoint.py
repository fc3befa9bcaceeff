"""instrumentid.tfcheckpoint against a small checkpoint that TensorFlow wrote (scripts/make_musicnn_fixture.py)."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from instrumentid.errors import ModelFileError
from instrumentid.tfcheckpoint import FOOTER_BYTES, read_checkpoint, read_index

BUNDLE = Path(__file__).parent / "golden" / "musicnn" / "tfbundle"


@pytest.fixture
def expected():
    with np.load(BUNDLE / "expected.npz") as z:
        return {name: z[name] for name in z.files}


@pytest.fixture
def copy(tmp_path):
    for f in BUNDLE.glob("ckpt.*"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / "ckpt"


def test_reads_every_variable_as_tensorflow_does(expected):
    got = read_checkpoint(BUNDLE / "ckpt")
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype, name
        assert got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_index_entries_and_header(expected):
    header, entries = read_index(BUNDLE / "ckpt")
    assert header == {"num_shards": 1, "endianness": 0}
    assert {n: e["shape"] for n, e in entries.items()} == {n: list(v.shape) for n, v in expected.items()}
    spans = sorted((e["offset"], e["offset"] + e["size"]) for e in entries.values())
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))  # no two variables overlap


def test_reads_the_names_asked_for(expected):
    got = read_checkpoint(BUNDLE / "ckpt", ["dense/bias", "step"])
    assert list(got) == ["dense/bias", "step"]
    assert got["step"] == expected["step"]


def test_missing_variable(copy):
    with pytest.raises(ModelFileError, match="no variable 'nope'"):
        read_checkpoint(copy, ["dense/bias", "nope"])


def test_missing_files(tmp_path, copy):
    with pytest.raises(ModelFileError, match="cannot read the checkpoint index"):
        read_checkpoint(tmp_path / "absent")
    Path(f"{copy}.data-00000-of-00001").unlink()
    with pytest.raises(ModelFileError, match="cannot read the checkpoint shard"):
        read_checkpoint(copy)


@pytest.mark.parametrize("damage", ["truncate", "magic", "empty", "garbage", "handle"])
def test_damaged_index(copy, damage):
    index = Path(f"{copy}.index")
    data = bytearray(index.read_bytes())
    if damage == "truncate":
        data = data[:len(data) // 2]
    elif damage == "magic":
        data[-1] ^= 0xFF
    elif damage == "empty":
        data = bytearray()
    elif damage == "garbage":
        data[:len(data) - FOOTER_BYTES] = b"\xff" * (len(data) - FOOTER_BYTES)
    else:  # the index block's handle points past the end
        data[-FOOTER_BYTES + 2:-FOOTER_BYTES + 4] = b"\xff\x7f"
    index.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="not a TensorFlow checkpoint index"):
        read_checkpoint(copy)


def test_compressed_block_is_refused(copy):
    index = Path(f"{copy}.index")
    data = bytearray(index.read_bytes())
    # the first data block starts the file; its handle is the value of the index block's only entry
    from instrumentid.tfcheckpoint import _block, _entries, _varint

    footer = bytes(data[-FOOTER_BYTES:])
    _, pos = _varint(footer, 0)
    _, pos = _varint(footer, pos)
    (_, handle), = _entries(_block(bytes(data), footer[pos:]))
    offset, p = _varint(handle, 0)
    size, _ = _varint(handle, p)
    data[offset + size] = 1  # snappy
    index.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="compressed"):
        read_checkpoint(copy)


def test_short_shard(copy):
    shard = Path(f"{copy}.data-00000-of-00001")
    shard.write_bytes(shard.read_bytes()[:20])
    with pytest.raises(ModelFileError, match="do not hold shape"):
        read_checkpoint(copy)
