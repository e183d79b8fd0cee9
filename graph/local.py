"""The managed local Neo4j: fetched from Maven Central, started on loopback, one per data dir.

Neo4j's standalone tarball is not on Maven Central, so the server is assembled from the
published artifacts (``org.neo4j:neo4j`` holds Neo4j's own ``CommunityEntryPoint``) with
``mvn dependency:copy-dependencies`` on ``graph/maven/pom.xml``; APOC core and its
dependencies go into ``plugins/``. The jars are cached under ``~/.cache/connectome``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from graph.settings import LocalNeo4jSettings

POM = Path(__file__).parent / "maven" / "pom.xml"
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
JVM_OPTIONS = [
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
]


class Neo4jSetupError(RuntimeError):
    """A problem the user can fix (no Java, a taken port, a failed download); one sentence."""


@dataclass(frozen=True)
class Status:
    running: bool
    pid: int | None
    uri: str
    version: str | None
    apoc: str | None
    data_size_bytes: int

    def lines(self) -> list[str]:
        state = f"running (pid {self.pid})" if self.running else "stopped"
        size_mb = self.data_size_bytes / 2**20
        return [
            f"neo4j:     {state}",
            f"bolt:      {self.uri}",
            f"version:   {self.version or 'unknown'}",
            f"apoc:      {self.apoc or 'not loaded'}",
            f"data size: {size_mb:.1f} MiB",
        ]


class LocalNeo4j:
    """One managed Neo4j server living in ``settings.home``.

    Examples
    --------
    >>> server = LocalNeo4j(LocalNeo4jSettings(data_dir="/tmp/nowhere", bolt_port=17999))
    >>> server.uri
    'bolt://127.0.0.1:17999'
    >>> server.is_running()
    False
    """

    def __init__(self, settings: LocalNeo4jSettings):
        self.settings = settings

    # -- paths -------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        return f"bolt://{self.settings.host}:{self.settings.bolt_port}"

    @property
    def dist(self) -> Path:
        s = self.settings
        return s.cache_dir / f"neo4j-{s.version}-apoc-{s.apoc_version}"

    @property
    def pid_file(self) -> Path:
        return self.settings.home / "run" / "neo4j.pid"

    # -- fetching ----------------------------------------------------------------------------
    def fetch(self, echo=print) -> Path:
        """Download Neo4j and APOC core from Maven Central once; return the cached folder."""
        done = self.dist / ".complete"
        if done.exists():
            return self.dist
        mvn = shutil.which("mvn")
        if mvn is None:
            raise Neo4jSetupError(
                "Maven (`mvn`) is needed to fetch Neo4j from Maven Central but is not on PATH; "
                "install it (apt install maven)"
            )
        partial = self.dist.with_name(self.dist.name + f".partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        echo(
            f"fetching Neo4j {self.settings.version} and APOC {self.settings.apoc_version} "
            f"from Maven Central into {self.dist} …"
        )
        for profile, folder in (("server", "lib"), ("apoc,!server", "plugins")):
            cmd = [
                mvn,
                "-B",
                "-q",
                "-f",
                str(POM),
                "-P",
                profile,
                f"-Dneo4j.version={self.settings.version}",
                f"-Dapoc.version={self.settings.apoc_version}",
                "dependency:copy-dependencies",
                "-Dmdep.includeScope=runtime",
                f"-DoutputDirectory={partial / folder}",
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
                raise Neo4jSetupError(
                    f"fetching Neo4j jars with Maven failed ({' '.join(tail)[:400]})"
                )
        (partial / ".complete").write_text(self.settings.version + "\n")
        partial.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.dist, ignore_errors=True)
        os.replace(partial, self.dist)
        return self.dist

    # -- server life cycle -------------------------------------------------------------------
    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise Neo4jSetupError(
                "Java 17 or newer is needed to run Neo4j but `java` is not on PATH; "
                "install a JDK (apt install openjdk-17-jre-headless)"
            )
        out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
        match = re.search(r'version "(\d+)', out)
        if match and int(match.group(1)) < 17:
            raise Neo4jSetupError(
                f"Neo4j 5 needs Java 17 or newer but `java` is version {match.group(1)}; "
                "install a newer JDK or put it first on PATH"
            )
        return java

    def _classpath(self) -> str:
        return f"{self.dist / 'plugins'}/*:{self.dist / 'lib'}/*"

    def _write_config(self) -> Path:
        home = self.settings.home
        for sub in ("conf", "data", "logs", "run", "import"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        conf = home / "conf" / "neo4j.conf"
        s = self.settings
        conf.write_text(
            "\n".join(
                [
                    "# written by `connectome neo4j start`; edits are overwritten",
                    f"server.default_listen_address={s.host}",
                    f"server.bolt.listen_address={s.host}:{s.bolt_port}",
                    "server.http.enabled=false",
                    "server.https.enabled=false",
                    f"server.directories.data={home / 'data'}",
                    f"server.directories.logs={home / 'logs'}",
                    f"server.directories.import={home / 'import'}",
                    f"server.directories.plugins={self.dist / 'plugins'}",
                    f"server.memory.heap.initial_size={s.heap}",
                    f"server.memory.heap.max_size={s.heap}",
                    f"server.memory.pagecache.size={s.pagecache}",
                    "dbms.security.procedures.unrestricted=apoc.*",
                    "dbms.usage_report.enabled=false",
                    "db.transaction.timeout=10m",
                    "db.tx_log.preallocate=false",  # no 512 MiB of empty log files per server
                    "",
                ]
            )
        )
        return conf

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["NEO4J_HOME"] = str(self.settings.home)
        env["NEO4J_CONF"] = str(self.settings.home / "conf")
        return env

    def password(self) -> str:
        """The password generated on first start (kept in the data dir, mode 0600)."""
        creds = self.settings.credentials_file
        if creds.exists():
            return json.loads(creds.read_text())["password"]
        creds.parent.mkdir(parents=True, exist_ok=True)
        # hex: a password starting with "-" would read as an option to neo4j-admin
        password = secrets.token_hex(16)
        tmp = creds.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"username": "neo4j", "password": password, "uri": self.uri}, fh)
        os.replace(tmp, creds)
        return password

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and ENTRY_POINT.encode() not in cmdline.read_bytes():
            return None
        return pid

    def is_running(self) -> bool:
        return self._pid() is not None

    def _port_free(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.settings.host, self.settings.bolt_port))
            except OSError:
                return False
        return True

    def _bolt_answers(self, password: str) -> bool:
        from neo4j import GraphDatabase
        from neo4j.exceptions import Neo4jError, ServiceUnavailable

        try:
            with GraphDatabase.driver(
                self.uri, auth=("neo4j", password), connection_timeout=2
            ) as driver:
                with driver.session() as session:  # one attempt, no managed retries
                    session.run("RETURN 1").consume()
            return True
        except (ServiceUnavailable, Neo4jError, OSError):
            return False

    def start(self, echo=print) -> str:
        """Start the server unless it runs already; return once Bolt answers."""
        password = self.password()
        started: subprocess.Popen[bytes] | None = None
        if self.is_running():
            if self._bolt_answers(password):
                echo(f"neo4j already running at {self.uri}")
                return self.uri
        else:
            java = self._java()
            if not self._port_free():
                raise Neo4jSetupError(
                    f"port {self.settings.bolt_port} on {self.settings.host} is already in use; "
                    "stop what holds it or choose another with CONNECTOME_NEO4J_BOLT_PORT"
                )
            self.fetch(echo)
            self._write_config()
            first_start = not (self.settings.home / "data" / "dbms").exists()
            if first_start:
                proc = self.admin("dbms", "set-initial-password", password)
                if proc.returncode != 0:
                    raise Neo4jSetupError(
                        f"setting the Neo4j password failed: {proc.stderr.strip()[:300]}"
                    )
            log = open(self.settings.home / "logs" / "console.log", "ab")
            heap = self.settings.heap
            started = subprocess.Popen(
                [
                    java,
                    f"-Xms{heap}",
                    f"-Xmx{heap}",
                    *JVM_OPTIONS,
                    "-cp",
                    self._classpath(),
                    ENTRY_POINT,
                    f"--home-dir={self.settings.home}",
                    f"--config-dir={self.settings.home / 'conf'}",
                ],
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.settings.home,
            )
            self.pid_file.write_text(f"{started.pid}\n")
            echo(f"starting neo4j (pid {started.pid}) …")
        deadline = time.monotonic() + self.settings.start_timeout_s
        while time.monotonic() < deadline:
            alive = started.poll() is None if started is not None else self.is_running()
            if not alive:
                raise Neo4jSetupError(
                    "Neo4j exited while starting; see "
                    f"{self.settings.home / 'logs' / 'neo4j.log'}: {self._last_error()}"
                )
            if self._bolt_answers(password):
                echo(f"neo4j is up at {self.uri}")
                return self.uri
            time.sleep(0.5)
        raise Neo4jSetupError(
            f"Neo4j did not answer on {self.uri} within {self.settings.start_timeout_s:.0f} s; "
            f"see {self.settings.home / 'logs' / 'neo4j.log'}"
        )

    def admin(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``neo4j-admin`` (Neo4j's own AdminTool) against this server's home."""
        return subprocess.run(
            [self._java(), "-cp", self._classpath(), ADMIN_TOOL, *args],
            env=self._env(), capture_output=True, text=True,
        )  # fmt: skip

    def _last_error(self) -> str:
        log = self.settings.home / "logs" / "neo4j.log"
        if not log.exists():
            return "no log written"
        lines = [
            ln
            for ln in log.read_text(errors="replace").splitlines()
            if "ERROR" in ln or "Caused by" in ln
        ]
        return lines[-1][:300] if lines else "no error line in the log"

    def stop(self, echo=print, timeout_s: float = 60.0) -> None:
        """Stop the server if it runs (SIGTERM, then SIGKILL after ``timeout_s``)."""
        pid = self._pid()
        if pid is None:
            echo("neo4j is not running")
            self.pid_file.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._pid() is not None:
            time.sleep(0.2)
        if self._pid() is not None:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        echo("neo4j stopped")

    def status(self) -> Status:
        pid = self._pid()
        version = apoc = None
        if pid is not None and self.settings.credentials_file.exists():
            from neo4j import GraphDatabase
            from neo4j.exceptions import Neo4jError, ServiceUnavailable

            try:
                with (
                    GraphDatabase.driver(
                        self.uri, auth=("neo4j", self.password()), connection_timeout=2
                    ) as driver,
                    driver.session() as session,
                ):
                    version = session.run(
                        "CALL dbms.components() YIELD versions RETURN versions[0] AS v"
                    ).single(strict=True)["v"]
                    try:
                        apoc = session.run("RETURN apoc.version() AS v").single(strict=True)["v"]
                    except Neo4jError:
                        apoc = None
            except (ServiceUnavailable, Neo4jError, OSError):
                pass
        data = self.settings.home / "data"
        size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file()) if data.exists() else 0
        return Status(pid is not None, pid, self.uri, version, apoc, size)

    def env_lines(self) -> list[str]:
        """``export`` lines that point every other command (and a shell) at this server."""
        return [
            f"export NEO4J_URI={self.uri}",
            "export NEO4J_USERNAME=neo4j",
            f"export NEO4J_PASSWORD={self.password()}",
        ]
