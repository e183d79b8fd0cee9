"""Settings of the graph floor. Only these objects read environment variables."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LocalNeo4jSettings(BaseSettings):
    """The managed local Neo4j (``connectome neo4j …``), prefix ``CONNECTOME_NEO4J_``.

    Examples
    --------
    >>> LocalNeo4jSettings(data_dir="/tmp/x").home
    PosixPath('/tmp/x/neo4j')
    """

    model_config = SettingsConfigDict(env_prefix="CONNECTOME_NEO4J_")

    data_dir: Path = Field(
        default_factory=lambda: Path.cwd() / "data",
        description="the project's data directory; the server lives in neo4j/",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "connectome",
        description="downloaded Neo4j and APOC jars",
    )
    version: str = "5.26.19"
    apoc_version: str = "5.26.19"
    host: str = "127.0.0.1"
    bolt_port: int = 7687
    heap: str = "1g"
    pagecache: str = "512m"
    start_timeout_s: float = 180.0

    @property
    def home(self) -> Path:
        return self.data_dir / "neo4j"

    @property
    def credentials_file(self) -> Path:
        return self.home / "credentials.json"


class Neo4jSettings(BaseSettings):
    """Where the graph lives, prefix ``NEO4J_`` (as the docker-compose file sets them).

    When ``NEO4J_PASSWORD`` is unset, the password the managed local server generated is used.

    Examples
    --------
    >>> Neo4jSettings(uri="bolt://db:7687", password="pw").username
    'neo4j'
    """

    model_config = SettingsConfigDict(env_prefix="NEO4J_")

    uri: str = "bolt://127.0.0.1:7687"
    username: str = "neo4j"
    password: str | None = None
    database: str = "neo4j"
    batch_size: int = 5000
    query_timeout_s: float = 30.0

    def with_local_credentials(self, local: LocalNeo4jSettings) -> Neo4jSettings:
        """Fill in the managed server's address and password when none was configured."""
        if self.password is not None:
            return self
        path = local.credentials_file
        if not path.exists():
            return self
        creds = json.loads(path.read_text())
        update = {"password": creds["password"], "username": creds.get("username", self.username)}
        if "uri" not in self.model_fields_set:
            update["uri"] = creds.get("uri", self.uri)
        return self.model_copy(update=update)
