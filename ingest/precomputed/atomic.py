"""Atomic writes for precomputed trees: a directory or a file appears whole or not at all.

A directory is built in a hidden temporary sibling ``.<name>.partial-<pid>`` and renamed into
place when complete; a crash leaves only that hidden sibling (removed by the next write of the
same name by the same process id, ignored by the data server, which refuses names that start
with a dot). Replacing an existing directory takes two renames (old → ``.<name>.old-<pid>``,
new → ``<name>``), because POSIX ``rename`` cannot swap non-empty directories; between the two a
reader sees no directory rather than a mixed one, and a crash there leaves the previous version
whole at ``.<name>.old-<pid>``.

A build that may be resumed takes a key instead of the process id (``.<name>.partial-<key>``,
see :func:`replacing_dir`): it is kept when the build fails or the process is killed, and the
next build with the same key continues in it. Only one process at a time builds in it (an
exclusive ``flock`` on the directory).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}")


class BusyError(FileExistsError):
    """Another process is building the same directory with the same resume key."""


LEFTOVER = re.compile(r"^\.(.+)\.(partial|old)-[0-9a-z]+$")  # what a killed write leaves


@contextmanager
def replacing_dir(path: str | os.PathLike[str], resume_key: str | None = None) -> Iterator[Path]:
    """Yield an empty temporary directory that replaces ``path`` when the block succeeds.

    If the block raises, the temporary directory is removed and ``path`` is left untouched.
    With ``resume_key`` (letters and digits) the temporary directory is
    ``.<name>.partial-<resume_key>``: it is kept when the block raises (or the process dies), and
    the next call with the same key yields it again with what was written so far. Whatever is
    in it must then be what the key stands for; the key names the inputs, the caller decides
    what to reuse. A second process asking for the same key while it is in use gets an error.

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
    >>> try:
    ...     with replacing_dir(target, resume_key="k1") as tmp:
    ...         _ = (tmp / "done").write_text("1")
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> with replacing_dir(target, resume_key="k1") as tmp:
    ...     sorted(p.name for p in tmp.iterdir())
    ['done']
    >>> sorted(p.name for p in target.iterdir())
    ['done']
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    if resume_key is not None:
        if not re.fullmatch(r"[0-9a-z]+", resume_key):
            raise ValueError(
                f"resume_key must be lower-case letters and digits, got {resume_key!r}"
            )
        tmp = final.with_name(f".{final.name}.partial-{resume_key}")
        with _locked(tmp, final):
            yield tmp
            _install(tmp, final)
        return
    tmp = _sibling(final, "partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _install(tmp, final)


@contextmanager
def _locked(tmp: Path, final: Path) -> Iterator[None]:
    """Hold an exclusive lock on the directory ``tmp`` (made if missing) for the block."""
    while True:
        tmp.mkdir(exist_ok=True)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BusyError(
                f"{final} is being written by another process (it holds {tmp.name}); "
                "expected one writer at a time"
            ) from None
        if tmp.exists() and os.stat(tmp).st_ino == os.fstat(fd).st_ino:
            break
        os.close(fd)  # the holder before us renamed it into place meanwhile: start afresh
    try:
        yield
    finally:
        os.close(fd)


def _install(tmp: Path, final: Path) -> None:
    if final.exists():
        old = _sibling(final, "old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def remove_leftovers(root: str | os.PathLike[str]) -> list[Path]:
    """Remove what killed writes left under ``root`` (``.<name>.partial-*``, ``.<name>.old-*``).

    For a resumed build before it is put in place; nothing else may be writing under ``root``.
    Returns what was removed.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / ".info.partial-123").write_text("{")
    >>> (root / "mesh" / ".7.partial-99").mkdir(parents=True)
    >>> [p.name for p in remove_leftovers(root)], sorted(p.name for p in root.rglob("*"))
    (['.info.partial-123', '.7.partial-99'], ['mesh'])
    """
    found = sorted((p for p in Path(root).rglob(".*") if LEFTOVER.match(p.name)),
                   key=lambda p: len(p.parts))  # fmt: skip
    removed: list[Path] = []
    for p in found:
        if any(r in p.parents for r in removed):
            continue
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
        removed.append(p)
    return removed


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
