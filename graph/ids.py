"""Body ids: 64-bit unsigned everywhere, signed 64-bit inside Neo4j, strings on the wire.

Neo4j integers are signed 64-bit. Ids below 2**63 are stored unchanged (so neuPrint clients
see the same numbers); ids from 2**63 up are stored as their two's-complement negative.
"""

from __future__ import annotations

import numpy as np

UINT64_MAX = 2**64 - 1
_TWO_63 = 2**63


def to_neo4j(body_id: int) -> int:
    """Map a uint64 body id onto the signed 64-bit integer Neo4j stores.

    Examples
    --------
    >>> to_neo4j(42)
    42
    >>> to_neo4j(2**64 - 1)
    -1
    """
    body_id = int(body_id)
    if not 0 <= body_id <= UINT64_MAX:
        raise ValueError(f"body id {body_id} is not a 64-bit unsigned integer")
    return body_id - 2**64 if body_id >= _TWO_63 else body_id


def from_neo4j(value: int) -> int:
    """Inverse of :func:`to_neo4j`.

    Examples
    --------
    >>> from_neo4j(-1) == 2**64 - 1
    True
    >>> from_neo4j(2**53 + 1)
    9007199254740993
    """
    value = int(value)
    return value + 2**64 if value < 0 else value


def parse_body_id(text: str | int) -> int:
    """Read a body id given as a decimal string (as it crosses JSON and GraphQL).

    Examples
    --------
    >>> parse_body_id("18446744073709551615")
    18446744073709551615
    >>> parse_body_id("x1")
    Traceback (most recent call last):
    ...
    ValueError: body id 'x1' is not a decimal 64-bit unsigned integer
    """
    try:
        value = int(str(text).strip(), 10)
    except ValueError:
        raise ValueError(f"body id {text!r} is not a decimal 64-bit unsigned integer") from None
    if not 0 <= value <= UINT64_MAX:
        raise ValueError(f"body id {text!r} is not a decimal 64-bit unsigned integer")
    return value


def uint64_to_int64(ids: np.ndarray) -> np.ndarray:
    """Reinterpret a uint64 id array as the int64 values Neo4j stores (no copy of the bits).

    Examples
    --------
    >>> uint64_to_int64(np.array([1, 2**64 - 1], dtype=np.uint64)).tolist()
    [1, -1]
    """
    return np.ascontiguousarray(ids, dtype=np.uint64).view(np.int64)
