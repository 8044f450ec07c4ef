"""Decoding randomly corrupted copies of a DICOM file in a child process, so a native
decoder that writes past its buffers fails the test that runs it instead of killing the run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

_MUTANTS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    import mammokit
    from mammokit.dicom import decode_file
    from mammokit.plugins import get_components, get_plugin_manager

    decoders = get_components(get_plugin_manager(load_entry_points=False), "mammokit_decoders")
    good, folder, decoder = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    count, seed = int(sys.argv[4]), int(sys.argv[5])
    data, rng = good.read_bytes(), np.random.default_rng(seed)
    start = data.rindex(b"\\xfe\\xff\\x00\\xe0") + 8
    reference = decode_file(good, decoders=decoders, name="pydicom").pixels
    counts = [0, 0, 0]
    for i in range(count):
        mutant = bytearray(data)
        for _ in range(int(rng.integers(1, 6))):
            mutant[int(rng.integers(start, len(data)))] = int(rng.integers(0, 256))
        path = folder / f"m{i}.dcm"
        path.write_bytes(bytes(mutant))
        try:
            pixels = decode_file(path, decoders=decoders, name=decoder).pixels
        except mammokit.DicomDecodeError as err:
            assert str(path) in str(err), err
            counts[1] += 1
        else:
            counts[0 if np.array_equal(pixels, reference) else 2] += 1
    print(*counts)
    """
)


def decode_mutants(
    good: Path, folder: Path, decoder: str, *, count: int = 300, seed: int = 0
) -> tuple[int, int, int]:
    """Decode ``count`` copies of ``good`` with 1-5 random bytes of its last encapsulated
    item changed, with ``decoder``, in a child process.

    Returns:
        ``(equal, refused, other)``: decoded to ``good``'s pixels, refused with a
        DicomDecodeError naming the copy, decoded to other pixels.

    Raises:
        AssertionError: the child died (a crash) or failed, with the end of its stderr.
    """
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", _MUTANTS, str(good), str(folder), decoder, str(count), str(seed)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    equal, refused, other = (int(v) for v in result.stdout.split())
    assert equal + refused + other == count
    return equal, refused, other
