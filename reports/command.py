"""Running a report: :func:`run` reads the graph, draws and writes the three files with a
progress bar; :func:`main` is ``python -m reports``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path
from typing import Any

from graph import queries
from graph.schema import DatasetNameError
from graph.settings import Neo4jSettings
from reports.document import Report, write_report
from reports.inputs import ReportError
from reports.options import KINDS, add_parsers, options_from

USER_ERRORS = (ReportError, DatasetNameError, FileExistsError)


def run(
    kind: str,
    dataset: str,
    out: Path,
    options: Any,
    neo4j: Neo4jSettings,
    progress: bool = True,
) -> list[Path]:
    """Build the report ``kind`` of ``dataset`` and write it into ``out``; return the files.
    Input the report cannot work on raises :class:`~reports.inputs.ReportError` (one
    sentence), as does a Neo4j that cannot be reached."""
    from neo4j.exceptions import AuthError, ServiceUnavailable
    from tqdm.auto import tqdm

    spec = KINDS[kind]
    build_report = importlib.import_module(spec.module).build
    bar = tqdm(total=spec.steps + 1, desc=f"report {kind}", disable=not progress, leave=False,
               file=sys.stderr, bar_format="{desc} [{n}/{total}, {elapsed}]")  # fmt: skip

    def step(name: str) -> None:
        bar.set_description_str(f"report {kind}: {name}", refresh=False)
        bar.update(1)

    async def build() -> Report:
        driver = queries.async_driver(neo4j)
        try:
            reader = queries.Reader(driver, neo4j.database, neo4j.query_timeout_s)
            return await build_report(reader, dataset, options, step)
        finally:
            await driver.close()

    try:
        report = asyncio.run(build())
        step("files")
        return write_report(report, out)
    except ServiceUnavailable:
        raise ReportError(
            f"cannot reach Neo4j at {neo4j.uri}; start it with `connectome neo4j start` or "
            "point NEO4J_URI at a server"
        ) from None
    except AuthError:
        raise ReportError(f"Neo4j at {neo4j.uri} refused the credentials") from None
    finally:
        bar.close()


def run_parsed(args: argparse.Namespace, neo4j: Neo4jSettings) -> list[Path]:
    """:func:`run` with the parsed arguments of a report subcommand
    (:func:`~reports.options.add_parsers`)."""
    options = options_from(args, KINDS[args.report_kind].options)
    return run(args.report_kind, args.dataset, args.out, options, neo4j, progress=not args.quiet)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reports",
        description="Write a report (report.html, report.pdf, report.json) of a data set.",
    )
    add_parsers(parser.add_subparsers(dest="kind", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m reports KIND --dataset D --out DIR [options]``, Neo4j from ``NEO4J_*``;
    a user's error is one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        paths = run_parsed(args, Neo4jSettings())
    except USER_ERRORS as err:
        print(f"report {args.report_kind}: {err}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    return 0
