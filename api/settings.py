"""Settings of the API server, prefix ``CONNECTOME_API_``."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (so nobody else can reach the server).

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1")
    (True, True, True)
    >>> is_loopback("0.0.0.0"), is_loopback("10.1.2.3"), is_loopback("example.org")
    (False, False, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ApiSettings(BaseSettings):
    """Where and how the API serves.

    Examples
    --------
    >>> ApiSettings().port
    8000
    >>> ApiSettings(host="127.0.0.1").anonymous_reads_allowed
    True
    >>> ApiSettings(host="0.0.0.0").anonymous_reads_allowed
    False
    >>> ApiSettings(host="0.0.0.0", anonymous_reads=True).anonymous_reads_allowed
    True
    """

    model_config = SettingsConfigDict(env_prefix="CONNECTOME_API_")

    host: str = "127.0.0.1"
    port: int = 8000
    max_page_size: int = Field(default=1000, description="largest `first` a paged query accepts")
    max_query_depth: int = Field(default=12, description="deepest field nesting of a query")
    max_query_cost: int = Field(
        default=100_000,
        description="largest estimated cost of a query: objects it may return, each list "
        "counted at its `first` (or 20 where it has none)",
    )
    path_timeout_s: float = Field(default=5.0, description="time box of shortestPaths")
    neuroglancer_url: str = Field(
        default="/neuroglancer/",
        description="the Neuroglancer client that links open in; relative to this server "
        "unless absolute",
    )
    data_dir: Path = Field(
        default_factory=lambda: Path.cwd() / "data",
        description="the project's data directory; Neuroglancer files under precomputed/, "
        "tokens in tokens.json, the generated TLS certificate under tls/",
    )
    web_dir: Path = Field(default_factory=lambda: Path(__file__).resolve().parent.parent / "web")
    anonymous_reads: bool | None = Field(
        default=None,
        description="serve reads without a token; unset: on when the server binds a loopback "
        "host, off otherwise",
    )
    tls_cert: Path | None = Field(
        default=None, description="PEM certificate for --tls (default: generated under tls/)"
    )
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert")

    @property
    def anonymous_reads_allowed(self) -> bool:
        if self.anonymous_reads is not None:
            return self.anonymous_reads
        return is_loopback(self.host)

    @property
    def tokens_file(self) -> Path:
        return self.data_dir / "tokens.json"
