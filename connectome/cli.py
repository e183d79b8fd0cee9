"""The ``connectome`` command: one CLI, a subcommand per job, thin over library functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CliSettings(BaseSettings):
    """The one knob shared by the packages below, prefix ``CONNECTOME_``."""

    model_config = SettingsConfigDict(env_prefix="CONNECTOME_")

    data_dir: Path = Field(
        default_factory=lambda: Path.cwd() / "data",
        description="Neo4j's files, tables and the demo data set live here",
    )


class UserFacingError(Exception):
    """Printed as one line, exit status 2."""


def _local_settings():
    from graph.settings import LocalNeo4jSettings

    return LocalNeo4jSettings(data_dir=CliSettings().data_dir)


def _neo4j_settings():
    from graph.settings import Neo4jSettings

    return Neo4jSettings().with_local_credentials(_local_settings())


def _ingest_settings(**overrides: Any):
    from ingest.settings import IngestSettings

    return IngestSettings(data_dir=CliSettings().data_dir, **overrides)


def _views(text: str) -> int:
    """The type of ``ingest --views``: a whole number from 1 to 16 (the 3D net's views).

    >>> _views("8")
    8
    >>> _views("20")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a whole number from 1 to 16, got '20'
    """
    n = int(text) if text.strip().isdigit() else 0
    if not 1 <= n <= 16:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 16, got {text!r}")
    return n


# -- neo4j ----------------------------------------------------------------------------------
def cmd_neo4j(args: argparse.Namespace) -> int:
    from graph.local import LocalNeo4j

    server = LocalNeo4j(_local_settings())
    if args.action == "start":
        server.start()
    elif args.action == "stop":
        server.stop()
    elif args.action == "status":
        for line in server.status().lines():
            print(line)
    elif args.action == "env":
        for line in server.env_lines():
            print(line)
    return 0


# -- phantom --------------------------------------------------------------------------------
def cmd_phantom(args: argparse.Namespace) -> int:
    from ingest.phantom import make_phantom

    truth = make_phantom(args.out, seed=args.seed, shape_zyx=tuple(args.shape), progress=True)
    print(
        f"wrote {args.out}: {len(truth['cells'])} cells, {len(truth['synapses'])} synapses, "
        f"{len(truth['mitochondria'])} mitochondria (ground truth in "
        f"{Path(args.out) / 'ground_truth.json'})"
    )
    return 0


# -- ingest ---------------------------------------------------------------------------------
def ingest(
    path: str | Path,
    dataset: str,
    load: bool = True,
    progress: bool = True,
    bulk: bool = False,
    **overrides: Any,
) -> Path:
    """Read a volume, run the stages, write the tables and load them into Neo4j.

    ``overrides`` replace ingest settings (``scheduler``, ``chunk_zyx``, ``fresh``, …).
    """
    from graph.load import load as load_tables
    from graph.schema import check_dataset
    from ingest.pipeline import run_stages
    from ingest.volume import open_volume

    check_dataset(dataset)
    volume = open_volume(path)
    settings = _ingest_settings(**{k: v for k, v in overrides.items() if v is not None})
    neo4j = _neo4j_settings()
    if load:
        _check_neo4j(neo4j)  # before any work: a missing server is found in a second
    folder = run_stages(volume, dataset, settings, progress=progress)
    print(f"tables written to {folder}")
    if load and bulk:
        from graph.bulk import bulk_import
        from graph.local import LocalNeo4j

        counts = bulk_import(folder, LocalNeo4j(_local_settings()), neo4j)
        print(
            f"imported {dataset!r} with neo4j-admin into {neo4j.uri}: "
            + ", ".join(f"{v} {k}" for k, v in counts.items())
        )
        _annotate_predicted_types(neo4j, dataset, folder)
    elif load:
        from graph.annotations import annotate, saved_annotations

        kept = saved_annotations(neo4j, dataset)
        counts = load_tables(folder, neo4j, progress=_load_progress(progress), dataset=dataset)
        print(
            f"loaded {dataset!r} into {neo4j.uri}: "
            + ", ".join(f"{v} {k}" for k, v in counts.items())
        )
        _annotate_predicted_types(neo4j, dataset, folder)
        if kept:  # what was set before the reload wins over the model
            print(f"kept the annotations of {annotate(neo4j, dataset, kept)} neurons")
    return folder


def _annotate_predicted_types(neo4j: Any, dataset: str, folder: Path) -> None:
    """Set the cell types the model predicted (ingest's ``celltypes`` stage), if it ran."""
    from graph.annotations import annotate
    from ingest.celltypes import predicted_annotations

    predicted = predicted_annotations(folder)
    if predicted:
        print(f"predicted cell types set on {annotate(neo4j, dataset, predicted)} neurons")


def _load_progress(enabled: bool) -> Callable[[str, int, int], None]:
    from tqdm.auto import tqdm

    bars: dict[str, Any] = {}

    def step(name: str, done: int, total: int) -> None:
        if not enabled:
            return
        bar = bars.get(name)
        if bar is None:
            bar = bars[name] = tqdm(total=total, desc=f"load {name}", unit="row", leave=False)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return step


def _check_neo4j(settings: Any) -> None:
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError, ServiceUnavailable

    if settings.password is None:
        raise UserFacingError(
            "no Neo4j password is known; run `connectome neo4j start` or set "
            "NEO4J_URI, NEO4J_USERNAME and NEO4J_PASSWORD"
        )
    try:
        with GraphDatabase.driver(
            settings.uri, auth=(settings.username, settings.password), connection_timeout=5
        ) as driver:
            driver.verify_connectivity()
    except ServiceUnavailable:
        raise UserFacingError(
            f"cannot reach Neo4j at {settings.uri}; start it with "
            "`connectome neo4j start` or point NEO4J_URI at a server"
        ) from None
    except AuthError:
        raise UserFacingError(
            f"Neo4j at {settings.uri} refused the credentials; check "
            "NEO4J_USERNAME and NEO4J_PASSWORD"
        ) from None


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.predict import prepare  # a raw-only container gets its layers predicted first

    path = prepare(args.path, CliSettings().data_dir, views=args.views, progress=not args.quiet,
                   echo=lambda line: print(line, file=sys.stderr))  # fmt: skip
    ingest(path, args.dataset, load=not args.no_load, progress=not args.quiet,
           bulk=args.bulk, scheduler=args.scheduler, fresh=args.fresh or None,
           chunk_zyx=tuple(args.chunk) if args.chunk else None)  # fmt: skip
    return 0


# -- serve ----------------------------------------------------------------------------------
def serve(host: str, port: int, tls: bool = False, workers: int = 1) -> None:
    """Serve the app; with ``tls`` over HTTPS (a self-signed certificate unless configured);
    with ``workers`` > 1 in that many processes (the settings go to them as environment
    variables, :func:`api.app.app_from_environment`)."""
    import os

    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings
    from api.tls import certificate

    if workers < 1:
        raise UserFacingError(f"--workers must be at least 1, not {workers}")
    neo4j = _neo4j_settings()
    _check_neo4j(neo4j)
    settings = ApiSettings(host=host, port=port, data_dir=CliSettings().data_dir)
    ssl: dict[str, Any] = {}
    if tls:
        cert, key = certificate(
            settings.data_dir / "tls", host, settings.tls_cert, settings.tls_key
        )
        ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    base = f"{'https' if tls else 'http'}://{host}:{port}"
    print(f"web client: {base}/\nGraphQL (GraphiQL): {base}/graphql", flush=True)
    print(f"neuPrint API: {base}/api/ (neuprint.Client({base!r}, dataset=..., token=...))")
    if tls and not settings.tls_cert:
        print(f"certificate: {cert} (self-signed; clients pass verify=False or trust this file)")
    if settings.anonymous_reads_allowed:
        print("anonymous reads: on (tokens needed for writes)\n", flush=True)
    else:
        print("anonymous reads: off (make a token with `connectome token create`)\n", flush=True)
    if workers == 1:
        app = create_app(settings, neo4j)
        uvicorn.run(app, host=host, port=port, log_level="warning", **ssl)
        return
    print(f"{workers} worker processes", flush=True)
    os.environ.update({"CONNECTOME_API_HOST": host, "CONNECTOME_API_PORT": str(port),
                       "CONNECTOME_API_DATA_DIR": str(settings.data_dir), "NEO4J_URI": neo4j.uri,
                       "NEO4J_USERNAME": neo4j.username, "NEO4J_PASSWORD": neo4j.password or "",
                       "NEO4J_DATABASE": neo4j.database})  # fmt: skip
    uvicorn.run("api.app:app_from_environment", factory=True, workers=workers, host=host,
                port=port, log_level="warning", **ssl)  # fmt: skip


def cmd_token(args: argparse.Namespace) -> int:
    from api.auth import TokenStore
    from api.settings import ApiSettings

    store = TokenStore(ApiSettings(data_dir=CliSettings().data_dir).tokens_file)
    if args.action == "create":
        token, record = store.create(args.role, name=args.name)
        print(token)
        print(
            f"made {record.role} token {record.name!r}; it is shown only now (the server keeps "
            "its hash)",
            file=sys.stderr,
        )
    elif args.action == "list":
        for r in store.records():
            print(f"{r.name}\t{r.role}\t{r.created}")
    elif args.action == "revoke":
        store.revoke(args.name)
        print(f"revoked token {args.name!r}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from graph.schema import check_dataset
    from ingest.export import export_precomputed

    check_dataset(args.dataset)
    settings = _ingest_settings()
    out = Path(args.out) if args.out else CliSettings().data_dir / "precomputed"
    path = export_precomputed(settings.tables_dir(args.dataset), out)
    print(f"wrote Neuroglancer precomputed files to {path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    serve(args.host, args.port, tls=args.tls, workers=args.workers)
    return 0


# -- demo -----------------------------------------------------------------------------------
# -- annotate -------------------------------------------------------------------------------
def cmd_annotate(args: argparse.Namespace) -> int:
    from graph.annotations import annotate, read_annotations
    from graph.schema import check_dataset

    rows = read_annotations(args.table)
    settings = _neo4j_settings()
    _check_neo4j(settings)
    updated = annotate(settings, check_dataset(args.dataset), rows)
    print(f"annotated {updated} of {len(rows)} neurons of {args.dataset}"
          + ("" if updated == len(rows) else " (the others are not in the data set)"))  # fmt: skip
    return 0


def _demo_types(phantom: Path) -> Path:
    """The phantom's planted cell types as an annotation table, set over the cell-type
    model's predictions so that the demo shows the ground truth."""
    import json

    import pandas as pd

    truth = json.loads((phantom / "ground_truth.json").read_text())
    table = phantom.parent / "cell_types.csv"
    pd.DataFrame(
        {"bodyId": [str(c["id"]) for c in truth["cells"]],
         "type": [c["type"] for c in truth["cells"]], "typeConfidence": 1.0}
    ).to_csv(table, index=False)  # fmt: skip
    return table


def cmd_demo(args: argparse.Namespace) -> int:
    from graph.local import LocalNeo4j
    from ingest.phantom import make_phantom

    LocalNeo4j(_local_settings()).start()
    phantom = CliSettings().data_dir / "demo" / "phantom.zarr"
    if not (phantom / "ground_truth.json").exists():
        print(f"generating the demo phantom at {phantom} …", flush=True)
        phantom.parent.mkdir(parents=True, exist_ok=True)
        make_phantom(phantom, seed=0, shape_zyx=tuple(args.shape), progress=True)
    folder = ingest(phantom, "demo")
    from graph.annotations import annotate, read_annotations

    types = read_annotations(_demo_types(phantom))
    updated = annotate(_neo4j_settings(), "demo", types)
    print(f"cell types of {updated} neurons from the phantom's ground truth "
          "(over the model's predictions)")  # fmt: skip
    from ingest.export import export_precomputed

    out = export_precomputed(folder, CliSettings().data_dir / "precomputed")
    print(f"Neuroglancer files: {out} (served under /data/demo/)")
    if not args.no_serve:
        serve(args.host, args.port)
    return 0


# -- report ---------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from reports.command import run_parsed

    neo4j = _neo4j_settings()
    _check_neo4j(neo4j)
    for path in run_parsed(args, neo4j):
        print(f"wrote {path}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from connectome.train import trainers

    found = trainers()
    if args.name == "list":
        for name in sorted(found):
            print(name)
        return 0
    if args.name not in found:
        raise UserFacingError(
            f"no trainer named {args.name!r}; known: {', '.join(sorted(found)) or 'none yet'}"
        )
    out = found[args.name](args.out, seed=args.seed, quick=args.quick, progress=not args.quiet)
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connectome",
        description="Connectome query service: EM volumes to a Neo4j "
        "graph, GraphQL API and web client.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("neo4j", help="the managed local Neo4j server")
    p.add_argument("action", choices=["start", "stop", "status", "env"])
    p.set_defaults(func=cmd_neo4j)

    p = sub.add_parser("phantom", help="write a synthetic data set with ground truth")
    p.add_argument("out", help="output OME-Zarr directory (must not exist)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shape", type=int, nargs=3, metavar=("Z", "Y", "X"), default=[64, 256, 256])
    p.set_defaults(func=cmd_phantom)

    p = sub.add_parser("ingest", help="process a volume into tables and load them into Neo4j")
    p.add_argument("path", help="OME-Zarr volume (raw image + labels/cells, …)")
    p.add_argument("--dataset", required=True, help="data set name (letters, digits, _)")
    p.add_argument("--no-load", action="store_true", help="write the tables only")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the chunks on this dask.distributed scheduler (default: local "
                   "processes)")  # fmt: skip
    p.add_argument("--chunk", type=int, nargs=3, metavar=("Z", "Y", "X"),
                   help="chunk shape of the scan (default 64 512 512)")  # fmt: skip
    p.add_argument("--views", type=_views, default=1, metavar="N",
                   help="raw image only: average the voxel net over N mirrored and "
                   "transposed views (1-16, default 1; N times the inference time, more "
                   "accurate)")  # fmt: skip
    p.add_argument(
        "--bulk",
        action="store_true",
        help="first load into an empty managed Neo4j with neo4j-admin database import (fast "
        "for large data sets; stops and restarts the server)",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="recompute every chunk, ignoring those of an interrupted run",
    )
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("export", help="write an ingested data set in another format")
    p.add_argument("format", choices=["precomputed"], help="Neuroglancer precomputed files")
    p.add_argument("dataset", help="an ingested data set")
    p.add_argument("out", nargs="?", help="output folder (default: the data dir's "
                   "precomputed/, which `connectome serve` serves under /data/)")  # fmt: skip
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("serve", help="serve the GraphQL API, neuPrint's API and the web client")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind; anonymous reads are on only for loopback hosts "
                   "(CONNECTOME_API_ANONYMOUS_READS overrides)")  # fmt: skip
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--tls", action="store_true",
                   help="serve HTTPS (certificate: CONNECTOME_API_TLS_CERT/_KEY, else a "
                   "self-signed one made under the data dir's tls/)")  # fmt: skip
    p.add_argument("--workers", type=int, default=1,
                   help="API processes (one per core left to the API: Python answers one "
                   "request at a time per process)")  # fmt: skip
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("token", help="bearer tokens of the API (create, list, revoke)")
    tok = p.add_subparsers(dest="action", required=True)
    t = tok.add_parser("create", help="make a token and print it (shown only once)")
    t.add_argument("--role", choices=["read", "admin"], required=True)
    t.add_argument("--name", help="a name to list and revoke it by (default: <role>-<n>)")
    tok.add_parser("list", help="name, role and creation time of every token")
    t = tok.add_parser("revoke", help="remove a token")
    t.add_argument("name")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("annotate", help="set neuron types, type confidences, instances, "
                       "statuses from a table")  # fmt: skip
    p.add_argument("dataset", help="a loaded data set")
    p.add_argument("table", help="CSV (or .parquet) with bodyId and any of type, "
                   "typeConfidence, instance, status; empty cells change nothing")  # fmt: skip
    p.set_defaults(func=cmd_annotate)

    from reports.options import add_parsers as add_report_parsers

    p = sub.add_parser("report", help="write an analysis report (report.html, report.pdf, "
                       "report.json) of a data set")  # fmt: skip
    add_report_parsers(p.add_subparsers(dest="kind", required=True))
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("train", help="reproduce a shipped model weight file from scratch")
    p.add_argument("name", help="weight name (e.g. unet3d); `connectome train list` names all")
    p.add_argument("--out", type=Path, default=None, help="weight file (default: the shipped one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a short run for tests, not for use")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("demo", help="start Neo4j, make and ingest the demo phantom, serve")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--shape", type=int, nargs=3, metavar=("Z", "Y", "X"), default=[96, 384, 384])
    p.add_argument("--no-serve", action="store_true", help="stop after ingesting")
    p.set_defaults(func=cmd_demo)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    from api.auth import TokenError
    from api.tls import TlsError
    from graph.annotations import AnnotationTableError
    from graph.local import Neo4jSetupError
    from graph.schema import DatasetNameError
    from graph.tables import TableContractError
    from ingest.volume import InputError
    from reports.inputs import ReportError

    return (
        UserFacingError,
        Neo4jSetupError,
        DatasetNameError,
        TableContractError,
        InputError,
        FileExistsError,
        TokenError,
        TlsError,
        AnnotationTableError,
        ReportError,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except _user_errors() as err:
        print(f"connectome {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
