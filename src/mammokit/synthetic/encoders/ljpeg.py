"""A JPEG lossless (process 14, selection value 1) encoder, for test data and benchmarks.

pydicom has no encoder for the JPEG lossless transfer syntaxes, yet half of a real
screening archive uses them; this writes single-component 2..16-bit codestreams that
pydicom (pylibjpeg-libjpeg) and dicomsdl decode. Numpy-vectorised, in row chunks: about a
second per megapixel... fast enough for phantoms, not a production encoder.

ITU T.81 H.1: predictor 1 (the left neighbour; the first column uses the pixel above, the
first pixel 2**(P-1)); differences modulo 2**16 coded as Huffman(SSSS) + SSSS extra bits,
with an optimal Huffman table built as in T.81 Annex K.2.
"""

from __future__ import annotations

import numpy as np

__all__ = ["encode_jpeg_lossless"]

_CHUNK_ROWS = 256


def _categories(
    image: np.ndarray, start: int, stop: int, precision: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ssss, diff) per sample of rows ``start:stop``, in raster order."""
    values = image[start:stop].astype(np.int32)
    prediction = np.empty_like(values)
    prediction[:, 1:] = values[:, :-1]
    prediction[1:, 0] = values[:-1, 0]
    prediction[0, 0] = int(image[start - 1, 0]) if start > 0 else 1 << (precision - 1)
    diff = (values - prediction).ravel()
    diff = ((diff + 32768) % 65536) - 32768  # modulo 2**16, in -32768..32767
    diff[diff == -32768] = 32768  # T.81 H.1.2.2: the one difference with SSSS 16
    magnitude = np.abs(diff)
    ssss = np.zeros(magnitude.shape, dtype=np.int64)
    nonzero = magnitude > 0
    ssss[nonzero] = np.floor(np.log2(magnitude[nonzero])).astype(np.int64) + 1
    return ssss, diff


def _code_sizes(counts: np.ndarray) -> np.ndarray:
    """Huffman code lengths per symbol (T.81 K.2 with the reserved all-ones code)."""
    freq = [int(f) for f in counts] + [1]  # the reserved symbol 256 (K.2, figure K.1)
    size = [0] * len(freq)
    others = [-1] * len(freq)
    while True:
        candidates = [i for i, f in enumerate(freq) if f > 0]
        if len(candidates) < 2:
            break
        v1 = min(candidates, key=lambda i: (freq[i], -i))
        v2 = min((i for i in candidates if i != v1), key=lambda i: (freq[i], -i))
        freq[v1] += freq[v2]
        freq[v2] = 0
        size[v1] += 1
        while others[v1] != -1:
            v1 = others[v1]
            size[v1] += 1
        others[v1] = v2
        size[v2] += 1
        while others[v2] != -1:
            v2 = others[v2]
            size[v2] += 1
    return np.asarray(size, dtype=np.int64)


def _table(freq: np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray]:
    """The DHT payload and the (code, length) per category 0..16, from their counts."""
    sizes = _code_sizes(freq)
    bits = np.bincount(sizes[sizes > 0], minlength=33)[:33].tolist()
    for i in range(32, 16, -1):  # K.3 Adjust_BITS: no code longer than 16 bits
        while bits[i] > 0:
            j = i - 2
            while bits[j] == 0:
                j -= 1
            bits[i] -= 2
            bits[i - 1] += 1
            bits[j + 1] += 2
            bits[j] -= 1
    i = 16
    while bits[i] == 0:
        i -= 1
    bits[i] -= 1  # drop the reserved symbol
    order = [s for s in np.argsort(sizes[:17], kind="stable") if sizes[s] > 0]
    symbols = sorted(order, key=lambda s: (sizes[s], s))
    lengths = np.zeros(17, dtype=np.int64)
    codes = np.zeros(17, dtype=np.int64)
    code, k = 0, 0
    for length in range(1, 17):
        for _ in range(bits[length]):
            lengths[symbols[k]] = length
            codes[symbols[k]] = code
            code += 1
            k += 1
        code <<= 1
    payload = bytes([0x00]) + bytes(bits[1:17]) + bytes(symbols[:k])
    return payload, codes, lengths


def _pack(lengths: np.ndarray, values: np.ndarray, carry: list[int]) -> bytes:
    """Variable-length bit fields (MSB first) to bytes; leftover bits stay in ``carry``."""
    offsets = np.arange(31, -1, -1)
    keep = offsets[None, :] < lengths[:, None]
    bits = ((values[:, None] >> offsets[None, :]) & 1)[keep].astype(np.uint8)
    bits = np.concatenate([np.asarray(carry, dtype=np.uint8), bits])
    whole = len(bits) - len(bits) % 8
    carry[:] = bits[whole:].tolist()
    return np.packbits(bits[:whole]).tobytes()


def _stuff(data: bytes) -> bytes:
    """Insert 0x00 after every 0xFF of entropy-coded data (T.81 F.1.2.3)."""
    array = np.frombuffer(data, dtype=np.uint8)
    positions = np.flatnonzero(array == 0xFF) + 1
    return np.insert(array, positions, 0).tobytes()


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def encode_jpeg_lossless(image: np.ndarray, precision: int) -> bytes:
    """(H, W) unsigned integers below 2**precision -> a JPEG lossless SV1 codestream."""
    if image.ndim != 2 or not 2 <= precision <= 16:
        raise ValueError("a (H, W) image and a precision of 2..16 bits are needed")
    rows, cols = image.shape
    freq = np.zeros(17, dtype=np.int64)
    for start in range(0, rows, _CHUNK_ROWS):
        ssss, _ = _categories(image, start, min(rows, start + _CHUNK_ROWS), precision)
        freq += np.bincount(ssss, minlength=17)
    dht, codes, lengths = _table(freq)
    carry: list[int] = []
    chunks = []
    for start in range(0, rows, _CHUNK_ROWS):
        ssss, diff = _categories(image, start, min(rows, start + _CHUNK_ROWS), precision)
        extra_bits = np.where(ssss == 16, 0, ssss)  # SSSS 16 carries no extra bits
        extra = np.where(diff < 0, diff - 1, diff) & ((1 << extra_bits) - 1)
        fields = (codes[ssss] << extra_bits) | extra
        chunks.append(_pack(lengths[ssss] + extra_bits, fields, carry))
    if carry:  # pad the last byte with 1-bits (T.81 F.1.2.3)
        chunks.append(np.packbits(np.asarray(carry + [1] * (8 - len(carry)), np.uint8)).tobytes())
    sof = (
        bytes([precision]) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    )
    sos = b"\x01\x01\x00\x01\x00\x00"  # 1 component, table 0, predictor 1, Se 0, Ah/Al 0
    return (
        b"\xff\xd8"
        + _segment(0xC3, sof)
        + _segment(0xC4, dht)
        + _segment(0xDA, sos)
        + _stuff(b"".join(chunks))
        + b"\xff\xd9"
    )
