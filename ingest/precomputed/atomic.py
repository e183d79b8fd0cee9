"""Atomic writes for precomputed trees: a directory or a file appears whole or not at all.

A directory is built in a hidden temporary sibling ``.<name>.partial-<pid>`` and renamed into
place when complete; a crash leaves only that hidden sibling (removed by the next write of the
same name by the same process id, ignored by the data server, which refuses names that start
with a dot). Replacing an existing directory takes two renames (old → ``.<name>.old-<pid>``,
new → ``<name>``), because POSIX ``rename`` cannot swap non-empty directories; between the two a
reader sees no directory rather than a mixed one, and a crash there leaves the previous version
whole at ``.<name>.old-<pid>``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}")


@contextmanager
def replacing_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary directory that replaces ``path`` when the block succeeds.

    If the block raises, the temporary directory is removed and ``path`` is left untouched.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "layer"
    >>> with replacing_dir(target) as tmp:
    ...     _ = (tmp / "info").write_text("{}")
    ...     target.exists()
    False
    >>> sorted(p.name for p in target.iterdir())
    ['info']
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(final, "partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        old = _sibling(final, "old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling and ``os.replace``.

    Examples
    --------
    >>> import tempfile
    >>> p = write_bytes(Path(tempfile.mkdtemp()) / "chunk", b"\\x01\\x02")
    >>> p.read_bytes()
    b'\\x01\\x02'
    """
    final = Path(path)
    tmp = _sibling(final, "partial")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def write_json(path: str | os.PathLike[str], value: Any) -> Path:
    """Write ``value`` as JSON (keys in the order given), atomically.

    Examples
    --------
    >>> import tempfile
    >>> p = write_json(Path(tempfile.mkdtemp()) / "info", {"@type": "neuroglancer_legacy_mesh"})
    >>> p.read_text()
    '{"@type": "neuroglancer_legacy_mesh"}'
    """
    return write_bytes(path, json.dumps(value, allow_nan=False).encode())
