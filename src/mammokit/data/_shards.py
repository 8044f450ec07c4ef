"""Packing per-image TFRecord payloads into size-bounded shards, deterministically.

Workers leave one framed record per image in ``.mammokit/payloads/``. Once every image is
done, the records are concatenated in image_id order into ``shards/shard-KKKKK-of-NNNNN``,
a new shard starting when the next record would pass the size target. Then
``.mammokit/shards.json`` lists the image ids of each shard, and the payloads are deleted.

Crash safety: payloads are deleted only after the shards and their manifest are written. If
a later run must repack (new rows), payloads already deleted are first recovered from the
shards the manifest describes, before any shard is rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.errors import ConfigError
from mammokit.data._job import STATE_DIR, payload_path
from mammokit.data.writers import iter_framed_records

__all__ = ["MANIFEST", "SHARD_DIR", "build_shards", "has_packed", "shard_name"]

SHARD_DIR = "shards"
MANIFEST = "shards.json"
#: Per shard, its [image_id, patient_id] pairs in order.
Groups = list[list[list[str]]]


def shard_name(index: int, count: int) -> str:
    return f"{SHARD_DIR}/shard-{index:05d}-of-{count:05d}.tfrecord"


def _manifest(out_dir: Path) -> dict[str, Groups] | None:
    try:
        data = json.loads((out_dir / STATE_DIR / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def has_packed(out_dir: Path) -> set[str]:
    """Image ids whose records sit in the shards the manifest describes."""
    manifest = _manifest(out_dir)
    if manifest is None:
        return set()
    groups = manifest.get("shards", [])
    count = len(groups)
    if not all((out_dir / shard_name(i, count)).exists() for i in range(count)):
        return set()
    return {image_id for group in groups for image_id, _ in group}


def _recover(out_dir: Path, manifest: dict[str, Groups]) -> None:
    """Write back the payload of every packed image whose payload file is gone."""
    groups = manifest.get("shards", [])
    for index, group in enumerate(groups):
        if all(payload_path(out_dir, pid, iid).exists() for iid, pid in group):
            continue
        shard = out_dir / shard_name(index, len(groups))
        records = list(iter_framed_records(shard.read_bytes(), source=str(shard)))
        if len(records) != len(group):
            raise ConfigError(f"{shard}: holds {len(records)} records, expected {len(group)}")
        for (iid, pid), framed in zip(group, records, strict=True):
            target = payload_path(out_dir, pid, iid)
            if not target.exists():
                atomic_write_bytes(target, framed)


def build_shards(
    out_dir: Path, images: Sequence[tuple[str, str]], shard_bytes: int
) -> dict[str, str]:
    """Pack the payloads of ``images`` ((image_id, patient_id), already sorted) into shards.

    Returns:
        image_id -> shard path relative to ``out_dir``.
    """
    manifest = _manifest(out_dir)
    wanted = [[iid, pid] for iid, pid in images]
    if manifest is not None and [p for g in manifest.get("shards", []) for p in g] == wanted:
        done = manifest["shards"]
        if all((out_dir / shard_name(i, len(done))).exists() for i in range(len(done))):
            _drop_payloads(out_dir, images)  # left behind if a run stopped while deleting
            return _paths(done)
    if manifest is not None:
        _recover(out_dir, manifest)
    groups: Groups = []
    current: list[list[str]] = []
    size = 0
    for iid, pid in images:
        length = payload_path(out_dir, pid, iid).stat().st_size
        if current and size + length > shard_bytes:
            groups.append(current)
            current, size = [], 0
        current.append([iid, pid])
        size += length
    if current:
        groups.append(current)
    shard_dir = out_dir / SHARD_DIR
    shard_dir.mkdir(parents=True, exist_ok=True)
    keep = set()
    for index, group in enumerate(groups):
        name = shard_name(index, len(groups))
        keep.add(Path(name).name)
        blob = b"".join(payload_path(out_dir, pid, iid).read_bytes() for iid, pid in group)
        atomic_write_bytes(out_dir / name, blob)
    for stale in shard_dir.glob("shard-*.tfrecord"):
        if stale.name not in keep:
            stale.unlink()
    text = json.dumps({"shards": groups}, indent=0) + "\n"
    atomic_write_bytes(out_dir / STATE_DIR / MANIFEST, text.encode())
    _drop_payloads(out_dir, images)
    return _paths(groups)


def _drop_payloads(out_dir: Path, images: Sequence[tuple[str, str]]) -> None:
    for iid, pid in images:
        payload_path(out_dir, pid, iid).unlink(missing_ok=True)


def _paths(groups: Groups) -> dict[str, str]:
    return {
        iid: shard_name(index, len(groups))
        for index, group in enumerate(groups)
        for iid, _ in group
    }
