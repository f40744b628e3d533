"""TFRecord files of ``tf.train.Example`` records, written without TensorFlow.

What :func:`pipeline.export.export_tfrecord` writes, encoded here by hand: the protobuf wire
format of ``tf.train.Example`` and the TFRecord framing (length, masked CRC-32C of the length,
data, masked CRC-32C of the data). CRC-32C is computed table-driven, vectorized over records.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["crc32c", "masked_crc32c", "window_examples", "frame_records"]


# --------------------------------------------------------------------------------------------
# CRC-32C (Castagnoli), as TFRecord framing needs it
# --------------------------------------------------------------------------------------------


def _crc_table() -> np.ndarray:
    poly = np.uint32(0x82F63B78)  # reflected Castagnoli polynomial
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ poly, table >> 1).astype(np.uint32)
    return table


_CRC_TABLE = _crc_table()
_CRC_TABLE_LIST = [int(v) for v in _CRC_TABLE]
_MASK_DELTA = 0xA282EAD8


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as used by TFRecord, iSCSI and ext4.

    Parameters
    ----------
    data : bytes-like

    Returns
    -------
    int
        The checksum, in ``[0, 2**32)``. ``crc32c(b"123456789") == 0xE3069283``.

    Notes
    -----
    A table-driven, byte-at-a-time implementation in pure Python: fine for the short inputs it
    is used for (record lengths, tests). Records are checksummed in batches by a vectorized
    version of the same recurrence.
    """
    crc = 0xFFFFFFFF
    table = _CRC_TABLE_LIST
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _mask(crc: int | np.ndarray) -> int | np.ndarray:
    # TFRecord stores a rotated and offset CRC, so that a CRC of data that itself holds CRCs
    # does not degenerate.
    if isinstance(crc, np.ndarray):
        crc = crc.astype(np.uint64)
        return ((((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF).astype(np.uint32)
    return ((((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF)


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C of ``data`` that TFRecord framing stores.

    ``((crc >> 15) | (crc << 17)) + 0xA282EAD8``, modulo ``2**32``, with ``crc = crc32c(data)``.
    """
    return int(_mask(crc32c(data)))


def _crc32c_rows(rows: np.ndarray) -> np.ndarray:
    """CRC-32C of every row of a ``(n, length)`` uint8 array, vectorized over rows."""
    rows = np.asfortranarray(rows, dtype=np.uint8)
    crc = np.full(rows.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    table = _CRC_TABLE
    for j in range(rows.shape[1]):
        crc = table[(crc ^ rows[:, j]) & 0xFF] ^ (crc >> 8)
    return crc ^ np.uint32(0xFFFFFFFF)


# --------------------------------------------------------------------------------------------
# Protobuf wire format of tf.train.Example
# --------------------------------------------------------------------------------------------
#
#   Example   { Features features = 1; }
#   Features  { map<string, Feature> feature = 1; }   (entry: string key = 1; Feature value = 2)
#   Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
#                            Int64List int64_list = 3; } }
#   BytesList { repeated bytes value = 1; }
#   FloatList { repeated float value = 1 [packed = true]; }
#   Int64List { repeated int64 value = 1 [packed = true]; }


def _varint(value: int) -> bytes:
    value = int(value)
    if value < 0:  # int64 two's complement, as protobuf encodes negative int64 (10 bytes)
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(field: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): tag, length, payload."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _float_feature(values: np.ndarray) -> bytes:
    packed = np.ascontiguousarray(values, dtype="<f4").tobytes()
    return _delimited(2, _delimited(1, packed))


def _int64_feature(values: Iterable[int]) -> bytes:
    return _delimited(3, _delimited(1, b"".join(_varint(v) for v in values)))


def _bytes_feature(values: Iterable[bytes]) -> bytes:
    return _delimited(1, b"".join(_delimited(1, v) for v in values))


def _map_entry(key: str, feature: bytes) -> bytes:
    return _delimited(1, _delimited(1, key.encode("utf-8")) + _delimited(2, feature))


def window_examples(scenario: int, tensor: np.ndarray, starts: np.ndarray,
                     labels: Sequence[str], start_entries: dict[int, bytes]) -> list[bytes]:
    """Encoded ``Example`` of each window of one scenario (see :func:`pipeline.export.export_tfrecord`).

    ``Example{features: Features{feature: {key: Feature}}}`` with map entries in sorted key
    order. The parts that do not change between windows are encoded once: encoding, not
    checksumming, is what a TFRecord export spends its time on.
    """
    n, window, n_features = tensor.shape
    constant = (  # sorted keys: feature_names, scenario, shape, (start, window)
        _map_entry("feature_names", _bytes_feature(lbl.encode("utf-8") for lbl in labels))
        + _map_entry("scenario", _int64_feature([scenario]))
        + _map_entry("shape", _int64_feature([window, n_features]))
    )
    size = window * n_features * 4
    template = _map_entry("window", _float_feature(np.zeros(window * n_features)))
    window_prefix = template[: len(template) - size]  # the float payload comes last
    data = np.ascontiguousarray(tensor, dtype="<f4").tobytes()
    out = []
    for i in range(n):
        start = int(starts[i])
        entry = start_entries.get(start)
        if entry is None:
            entry = start_entries[start] = _map_entry("start", _int64_feature([start]))
        body = b"".join((constant, entry, window_prefix, data[i * size : (i + 1) * size]))
        out.append(_varint(1 << 3 | 2) + _varint(len(body)) + body)
    return out


def frame_records(records: Sequence[bytes]) -> bytes:
    """TFRecord framing of ``records``: length, masked CRC of length, data, masked CRC of data."""
    if not records:
        return b""
    lengths = [struct.pack("<Q", len(r)) for r in records]
    length_crc = _mask(_crc32c_rows(np.frombuffer(b"".join(lengths), np.uint8).reshape(-1, 8)))
    data_crc = np.empty(len(records), dtype=np.uint32)
    by_length: dict[int, list[int]] = {}
    for i, r in enumerate(records):
        by_length.setdefault(len(r), []).append(i)
    for size, idx in by_length.items():
        rows = np.frombuffer(b"".join(records[i] for i in idx), np.uint8).reshape(len(idx), size)
        data_crc[idx] = _mask(_crc32c_rows(rows))
    out = bytearray()
    for i, r in enumerate(records):
        out += lengths[i]
        out += struct.pack("<I", int(length_crc[i]))
        out += r
        out += struct.pack("<I", int(data_crc[i]))
    return bytes(out)


