"""Read the variables of a TensorFlow checkpoint (a TF1/TF2 "tensor bundle") with numpy, without TensorFlow.

A checkpoint ``PREFIX`` is two kinds of file: ``PREFIX.index``, a table sorted by variable name (the SSTable format
of LevelDB, which TensorFlow's ``tensorflow/core/lib/io/table`` writes), and one or more data shards
``PREFIX.data-0000K-of-0000N`` holding each variable's raw little-endian bytes. Each value of the table is a
``BundleEntryProto`` (protocol buffers): dtype, shape, shard, byte offset and size; the value of the empty key is a
``BundleHeaderProto`` (number of shards, byte order). This module decodes both formats by their published layout:

- the table: a 48-byte footer at the end (two block handles, padding, the magic number ``0xdb4775248b80fb57``); the
  index block it points to lists the data blocks; a block is a run of prefix-compressed entries (varints: shared key
  bytes, new key bytes, value bytes; then the key's tail and the value), then its restart offsets, then a 5-byte
  trailer (compression type, checksum). TensorFlow writes bundles uncompressed; a compressed block is refused.
- protocol buffers: a sequence of (field number, wire type) tags with varint, 64-bit, length-delimited or 32-bit
  values.

Only what the checkpoints of pretrained networks hold is supported: numeric dtypes, little-endian, whole tensors
(no partitioned slices). The stored CRC-32C of each tensor is not checked (the caller may hash the shard).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from instrumentid.errors import ModelFileError

#: The last 8 bytes of a LevelDB table.
TABLE_MAGIC = 0xDB4775248B80FB57
#: Bytes of a table's footer: two block handles padded to 40 bytes, then the magic number.
FOOTER_BYTES = 48
#: Bytes after each block: compression type (1) and checksum (4).
BLOCK_TRAILER_BYTES = 5
#: TensorFlow's ``DataType`` enum values of the numeric types, as numpy dtypes (little-endian).
DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?", 17: "<u2", 19: "<f2",
          22: "<u4", 23: "<u8"}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The unsigned varint at ``buf[pos:]`` and the position after it."""
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a protocol buffer message: ints for varint and fixed, bytes for the rest."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported protocol buffer wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated protocol buffer")
        out.append((number, value))
    return out


def _block(data: bytes, handle: bytes) -> bytes:
    """The contents of the block that the encoded ``handle`` (offset, size varints) points to in the table ``data``."""
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    if offset + size + BLOCK_TRAILER_BYTES > len(data):
        raise ValueError(f"block at {offset} (+{size} bytes) runs past the end of the table")
    if data[offset + size] != 0:
        raise ValueError(f"block at {offset} is compressed (type {data[offset + size]}); bundles are not")
    return data[offset:offset + size]


def _entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of a table block, in order."""
    if len(block) < 4:
        raise ValueError("block shorter than its restart count")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 * (n_restarts + 1)
    if end < 0:
        raise ValueError(f"block of {len(block)} bytes cannot hold {n_restarts} restart offsets")
    out, key, pos = [], b"", 0
    while pos < end:
        shared, pos = _varint(block, pos)
        fresh, pos = _varint(block, pos)
        n_value, pos = _varint(block, pos)
        if shared > len(key) or pos + fresh + n_value > end:
            raise ValueError(f"malformed block entry at byte {pos}")
        key = key[:shared] + block[pos:pos + fresh]
        pos += fresh
        out.append((key, block[pos:pos + n_value]))
        pos += n_value
    return out


def _entry(value: bytes) -> dict:
    """A ``BundleEntryProto``: dtype, shape, shard_id, offset, size (and whether it is sliced)."""
    entry: dict = {"dtype": 0, "shape": [], "shard_id": 0, "offset": 0, "size": 0, "sliced": False}
    for number, v in _fields(value):
        if number == 1:
            entry["dtype"] = v
        elif number == 2:
            assert isinstance(v, bytes)
            for n, dim in _fields(v):
                if n == 2:  # TensorShapeProto.dim: Dim {int64 size = 1; string name = 2}
                    assert isinstance(dim, bytes)
                    entry["shape"].append(next((s for k, s in _fields(dim) if k == 1), 0))
                elif n == 3 and v:
                    raise ValueError("tensor of unknown rank")
        elif number in (3, 4, 5):
            entry[("shard_id", "offset", "size")[number - 3]] = v
        elif number == 7:
            entry["sliced"] = True
    return entry


def read_index(prefix) -> tuple[dict, dict[str, dict]]:
    """The header and the entries of the checkpoint ``prefix``'s ``.index`` table.

    Parameters
    ----------
    prefix : str or Path
        The checkpoint's prefix: its files are ``prefix + ".index"`` and ``prefix + ".data-*"``.

    Returns
    -------
    header : dict
        ``num_shards`` (int) and ``endianness`` (0: little-endian).
    entries : dict of str to dict
        Per variable name: ``dtype`` (TensorFlow's enum value), ``shape`` (list of int), ``shard_id``, ``offset`` and
        ``size`` (bytes in the shard), ``sliced`` (bool).

    Raises
    ------
    ModelFileError
        The file is missing or is not a tensor bundle's index.
    """
    path = Path(str(prefix) + ".index")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read the checkpoint index {path}: {exc.strerror or exc}") from None
    try:
        if len(data) < FOOTER_BYTES or int.from_bytes(data[-8:], "little") != TABLE_MAGIC:
            raise ValueError("no table footer (magic number) at its end")
        footer = data[-FOOTER_BYTES:]
        _, pos = _varint(footer, 0)  # the metaindex block: empty in bundles
        _, pos = _varint(footer, pos)
        header: dict = {"num_shards": 1, "endianness": 0}
        entries: dict[str, dict] = {}
        for _, handle in _entries(_block(data, footer[pos:])):
            for key, value in _entries(_block(data, handle)):
                if key == b"":
                    fields = dict(_fields(value))
                    header = {"num_shards": fields.get(1, 1), "endianness": fields.get(2, 0)}
                else:
                    entries[key.decode()] = _entry(value)
    except (ValueError, UnicodeDecodeError, struct.error) as exc:
        raise ModelFileError(f"{path} is not a TensorFlow checkpoint index: {exc}") from None
    return header, entries


def read_checkpoint(prefix, names=None) -> dict[str, np.ndarray]:
    """The variables of the TensorFlow checkpoint ``prefix`` as numpy arrays.

    Parameters
    ----------
    prefix : str or Path
        The checkpoint's prefix (``prefix.index`` and its data shards ``prefix.data-0000K-of-0000N``).
    names : iterable of str, optional
        The variables to read (default: all).

    Returns
    -------
    dict of str to np.ndarray
        Per variable name, its value with the stored shape and dtype (native byte order).

    Raises
    ------
    ModelFileError
        A file is missing or malformed, a name is absent, or a variable is of a kind this reader does not support
        (big-endian, partitioned, strings or other non-numeric dtypes).
    """
    header, entries = read_index(prefix)
    if header["endianness"] != 0:
        raise ModelFileError(f"checkpoint {prefix} is big-endian; only little-endian bundles are supported")
    wanted = list(entries) if names is None else list(names)
    missing = [n for n in wanted if n not in entries]
    if missing:
        raise ModelFileError(f"checkpoint {prefix} has no variable {missing[0]!r} (it has {len(entries)})")
    shards: dict[int, np.ndarray] = {}
    out = {}
    for name in wanted:
        e = entries[name]
        if e["sliced"] or e["dtype"] not in DTYPES:
            raise ModelFileError(f"checkpoint variable {name!r}: unsupported (dtype enum {e['dtype']}, "
                                 f"sliced {e['sliced']})")
        shard = e["shard_id"]
        if shard not in shards:
            path = Path(f"{prefix}.data-{shard:05d}-of-{header['num_shards']:05d}")
            try:
                shards[shard] = np.memmap(path, dtype=np.uint8, mode="r")
            except (OSError, ValueError) as exc:
                raise ModelFileError(f"cannot read the checkpoint shard {path}: {exc}") from None
        dtype = np.dtype(DTYPES[e["dtype"]])
        count = int(np.prod(e["shape"], dtype=np.int64))
        if e["size"] != count * dtype.itemsize or e["offset"] + e["size"] > len(shards[shard]):
            raise ModelFileError(f"checkpoint variable {name!r}: {e['size']} bytes at {e['offset']} do not hold "
                                 f"shape {e['shape']} of {dtype} in its shard of {len(shards[shard])} bytes")
        raw = np.asarray(shards[shard][e["offset"]:e["offset"] + e["size"]])
        out[name] = raw.view(dtype).astype(dtype.newbyteorder("="), copy=True).reshape(e["shape"])
    return out
