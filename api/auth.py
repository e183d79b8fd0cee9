"""Bearer tokens: who is asking, and may they.

A token is a random string (:func:`secrets.token_urlsafe`) shown once when it is made; the
store, ``<data_dir>/tokens.json``, keeps only its SHA-256 with a name, a role (``read`` or
``admin``) and the time it was made, and is rewritten atomically (a temporary file renamed over
the old one, under a lock) with mode 0600. Revoking a token takes effect on the next request:
the server re-reads the store when the file changes.

Every request except ``/healthz`` (and CORS preflights) is authenticated by
:func:`authentication`, a middleware: the token comes from ``Authorization: Bearer <token>``
or, for browsers and the Neuroglancer fetches they cannot add headers to, from the cookie
``connectome_token``. The result is a :class:`Principal` on ``request.state.principal``. With
no token the principal is anonymous when anonymous reads are on (the default on a loopback
host) and the answer is a 401 otherwise; a token that is not in the store is always a 401.
Writes need an admin: :func:`require_admin` raises :class:`Forbidden`, which the app turns
into a 403.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

Role = Literal["anonymous", "read", "admin"]
ROLES = ("read", "admin")  # the roles a token can have
COOKIE = "connectome_token"
OPEN_PATHS = frozenset({"/healthz"})
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


@dataclass(frozen=True)
class Principal:
    """Who is asking: a token's name and role, or the anonymous reader.

    Examples
    --------
    >>> Principal("alice", "admin").is_admin, ANONYMOUS.is_admin
    (True, False)
    """

    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


ANONYMOUS = Principal("anonymous", "anonymous")


class TokenError(ValueError):
    """A token command that cannot be done (unknown role, name taken, no such name)."""


class Unauthorized(Exception):
    """No valid token where one is needed; the message is one sentence for the caller."""


class Forbidden(PermissionError):
    """A valid token whose role does not allow the action."""


def require_admin(principal: Principal) -> None:
    """Raise :class:`Forbidden` unless ``principal`` holds an admin token (for writes).

    Examples
    --------
    >>> require_admin(Principal("ops", "admin"))
    >>> try:
    ...     require_admin(Principal("alice", "read"))
    ... except Forbidden as err:
    ...     print(err)
    this needs an admin token
    """
    if not principal.is_admin:
        raise Forbidden("this needs an admin token")


def token_hash(token: str) -> str:
    """The SHA-256 (hex) a token is stored as.

    Examples
    --------
    >>> token_hash("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenRecord:
    """One stored token: never the token itself, only its hash."""

    name: str
    role: str
    sha256: str
    created: str  # ISO 8601, UTC


class TokenStore:
    """The tokens of one server, in a JSON file.

    Examples
    --------
    >>> store = TokenStore(Path(tempfile.mkdtemp()) / "tokens.json")
    >>> token, record = store.create("read", name="alice")
    >>> store.lookup(token)
    Principal(name='alice', role='read')
    >>> token in store.path.read_text(), oct(store.path.stat().st_mode & 0o777)
    (False, '0o600')
    >>> store.revoke("alice"); store.lookup(token) is None
    True
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._cache_key: tuple[int, int, int] | None = None
        self._by_hash: dict[str, TokenRecord] = {}

    # -- reading -------------------------------------------------------------------------
    def _read(self) -> list[TokenRecord]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        try:
            rows = json.loads(text)["tokens"]
            return [TokenRecord(**row) for row in rows]
        except (ValueError, KeyError, TypeError) as err:
            raise TokenError(
                f"the token store {self.path} is not a tokens file ({err}); fix or remove it"
            ) from None

    def records(self) -> list[TokenRecord]:
        """Every stored token, oldest first."""
        return sorted(self._read(), key=lambda r: (r.created, r.name))

    def lookup(self, token: str) -> Principal | None:
        """The principal a token stands for, ``None`` if it is not (or no longer) stored."""
        try:
            stat = self.path.stat()
            key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            key = None
        if key != self._cache_key:
            self._by_hash = {r.sha256: r for r in self._read()}
            self._cache_key = key
        record = self._by_hash.get(token_hash(token))
        if record is None or record.role not in ROLES:
            return None
        return Principal(record.name, record.role)  # type: ignore[arg-type]

    # -- writing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[TokenRecord]]:
        """Read, let the caller change the list, write it back atomically, all under a lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            records = self._read()
            yield records
            rows = {"tokens": [asdict(r) for r in records]}
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w") as out:  # mkstemp makes it 0600
                    json.dump(rows, out, indent=1)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

    def create(self, role: str, name: str | None = None) -> tuple[str, TokenRecord]:
        """Make a token; return it (shown once, never stored) and its record."""
        if role not in ROLES:
            raise TokenError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if name is not None and not NAME_PATTERN.match(name):
            raise TokenError(
                f"token name {name!r} is not allowed; use up to 64 letters, digits and _.@-"
            )
        token = secrets.token_urlsafe(32)
        with self._locked() as records:
            taken = {r.name for r in records}
            if name is None:
                name = next(
                    f"{role}-{i}" for i in range(1, len(taken) + 2) if f"{role}-{i}" not in taken
                )
            elif name in taken:
                raise TokenError(
                    f"a token named {name!r} exists already; revoke it or pick another name"
                )
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            record = TokenRecord(name=name, role=role, sha256=token_hash(token), created=now)
            records.append(record)
        return token, record

    def revoke(self, name: str) -> None:
        """Remove the token called ``name``."""
        with self._locked() as records:
            kept = [r for r in records if r.name != name]
            if len(kept) == len(records):
                raise TokenError(f"no token is named {name!r}; `connectome token list` shows them")
            records[:] = kept


class Authenticator:
    """Turns a request's credentials into a :class:`Principal`, or refuses with a sentence.

    Examples
    --------
    >>> store = TokenStore(Path(tempfile.mkdtemp()) / "tokens.json")
    >>> token, _ = store.create("admin", name="ops")
    >>> Authenticator(store, anonymous_reads=False).authenticate(f"Bearer {token}", None)
    Principal(name='ops', role='admin')
    >>> Authenticator(store, anonymous_reads=True).authenticate(None, None)
    Principal(name='anonymous', role='anonymous')
    >>> try:
    ...     Authenticator(store, anonymous_reads=False).authenticate(None, None)
    ... except Unauthorized as err:
    ...     print(err)  # doctest: +ELLIPSIS
    this server needs a token: send Authorization: Bearer <token> ...
    """

    def __init__(self, store: TokenStore, anonymous_reads: bool):
        self.store, self.anonymous_reads = store, anonymous_reads

    def authenticate(self, authorization: str | None, cookie: str | None) -> Principal:
        if authorization:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("the Authorization header must be 'Bearer <token>'")
            return self._principal(token.strip())
        if cookie:
            return self._principal(cookie)
        if self.anonymous_reads:
            return ANONYMOUS
        raise Unauthorized(
            "this server needs a token: send Authorization: Bearer <token> "
            "(an admin makes one with `connectome token create`)"
        )

    def _principal(self, token: str) -> Principal:
        principal = self.store.lookup(token)
        if principal is None:
            raise Unauthorized("the token is not valid (mistyped or revoked)")
        return principal


CallNext = Callable[[Request], Awaitable[Response]]


def authentication(
    authenticator: Authenticator,
) -> Callable[[Request, CallNext], Awaitable[Response]]:
    """An HTTP middleware putting the caller's :class:`Principal` on ``request.state``.

    ``/healthz`` and CORS preflights (``OPTIONS``, which browsers send without credentials)
    pass unauthenticated; everything else needs a principal or gets a 401 with one sentence
    as ``{"error": …}`` (neuPrint's error shape) and ``WWW-Authenticate: Bearer``.
    """

    async def middleware(request: Request, call_next: CallNext) -> Response:
        if request.url.path in OPEN_PATHS or request.method == "OPTIONS":
            return await call_next(request)
        try:
            request.state.principal = authenticator.authenticate(
                request.headers.get("authorization"), request.cookies.get(COOKIE)
            )
        except Unauthorized as err:
            headers = {"WWW-Authenticate": 'Bearer realm="connectome"'}
            if request.url.path.startswith("/data/"):  # let Neuroglancer see the status
                headers["Access-Control-Allow-Origin"] = "*"
            return JSONResponse({"error": str(err)}, status_code=401, headers=headers)
        return await call_next(request)

    return middleware
