"""``rasteret build``, ``rasteret collections ...`` and ``rasteret datasets ...``."""

from __future__ import annotations

import argparse
from typing import Any

from rasteret.build.datasets import build, dataset_info, datasets, is_builtin
from rasteret.build.pipeline import build_from_stac
from rasteret.cli.common import emit, parse_json_option, parse_mapping
from rasteret.cli.describe import (
    collection_details,
    collection_summary,
    dataset_details,
    dataset_summary,
)
from rasteret.collection import load
from rasteret.errors import IndexFormatError, InvalidInputError
from rasteret.index.workspace import Workspace

BUILD_EXAMPLES = """\
examples:
  rasteret build earthsearch/sentinel-2-l2a --name bay-area \\
      --bbox -122.5 37.5 -122.0 38.0 --date-range 2024-01-01 2024-03-31
  rasteret build --stac-api https://stac.example.org --collection my-cogs \\
      --band B04=red --band B08=nir --name mine --json
"""


def add_build(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``build``."""
    parser = commands.add_parser(
        "build",
        parents=parents,
        help="index the COG headers of a STAC search into a collection",
        description="Search STAC and index every matching COG header once.",
        epilog=BUILD_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dataset", nargs="?", help="dataset id (see `rasteret datasets list`)")
    parser.add_argument("--name", required=True, help="collection name in the workspace")
    parser.add_argument("--stac-api", help="STAC API URL (overrides the dataset's)")
    parser.add_argument("--collection", help="STAC collection id (without a dataset id)")
    parser.add_argument("--data-source", help="built-in data source for band maps and cloud")
    parser.add_argument(
        "--band", action="append", metavar="CODE=ASSET", help="band map entry (repeatable)"
    )
    parser.add_argument(
        "--band-index", action="append", metavar="CODE=N", help="sample index in a multi-band asset"
    )
    parser.add_argument("--bbox", nargs=4, type=float, metavar=("MINX", "MINY", "MAXX", "MAXY"))
    parser.add_argument("--date-range", nargs=2, metavar=("START", "END"))
    parser.add_argument("--query", metavar="JSON", help="STAC query filter as JSON")
    parser.add_argument("--static-catalog", action="store_true", help="--stac-api is static")
    parser.add_argument("--max-concurrent", type=int, default=50)
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.set_defaults(handler=run_build)


def run_build(args: argparse.Namespace) -> None:
    """Build from a dataset id, or from ``--stac-api`` plus ``--collection``."""
    band_map = parse_mapping("--band", args.band, str) or None
    band_index_map = parse_mapping("--band-index", args.band_index, int) or None
    options: dict[str, Any] = {
        "name": args.name,
        "bbox": tuple(args.bbox) if args.bbox else None,
        "date_range": tuple(args.date_range) if args.date_range else None,
        "workspace_dir": args.workspace,
        "force": args.force,
        "max_concurrent": args.max_concurrent,
        "query": parse_json_option("--query", args.query),
    }
    if band_map is not None:
        options["band_map"] = band_map
    if band_index_map is not None:
        options["band_index_map"] = band_index_map
    if args.dataset is not None:
        given = [
            (option, value)
            for option, value in (
                ("--collection", args.collection),
                ("--data-source", args.data_source),
                ("--static-catalog", args.static_catalog or None),
            )
            if value is not None
        ]
        if given:
            option, value = given[0]
            raise InvalidInputError(
                option, value, f"comes from the dataset {args.dataset!r}; drop one of them"
            )
        collection = build(args.dataset, stac_api=args.stac_api, **options)
    else:
        if not args.stac_api or not args.collection:
            raise InvalidInputError(
                "dataset", None, "give a dataset id, or both --stac-api and --collection"
            )
        collection = build_from_stac(
            stac_api=args.stac_api,
            collection=args.collection,
            data_source=args.data_source,
            static_catalog=args.static_catalog,
            **options,
        )
    summary = collection_summary(collection)
    emit(args, summary, f"built {summary['name']}: {summary['scenes']} scenes -> {summary['path']}")


def add_collections(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``collections list|info|delete``."""
    parser = commands.add_parser(
        "collections",
        parents=parents,
        help="list, describe or delete the collections of the workspace",
        epilog="examples:\n  rasteret collections list --json\n"
        "  rasteret collections info bay-area\n  rasteret collections delete bay-area",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "list", parents=parents, help="every collection with scenes, bands, dates"
    ).set_defaults(handler=run_collections_list)
    info = actions.add_parser(
        "info", parents=parents, help="build parameters, summary and failures"
    )
    info.add_argument("name")
    info.set_defaults(handler=run_collections_info)
    delete = actions.add_parser("delete", parents=parents, help="remove a collection and its index")
    delete.add_argument("name")
    delete.set_defaults(handler=run_collections_delete)


def run_collections_list(args: argparse.Namespace) -> None:
    """List every collection of the workspace."""
    workspace = Workspace(args.workspace)
    rows: list[dict[str, Any]] = []
    for name in workspace.list():
        try:
            rows.append(collection_summary(load(name, workspace_dir=workspace.root)))
        except IndexFormatError as err:  # one unreadable index hides none of the others
            rows.append({"name": name, "error": str(err)})
    text = "\n".join(
        f"{r['name']:<24} unreadable: {r['error']}"
        if "error" in r
        else f"{r['name']:<24} {r['scenes']:>6} scenes  {','.join(r['bands'])}"
        for r in rows
    )
    emit(args, rows, text or f"no collections in {workspace.root}")


def run_collections_info(args: argparse.Namespace) -> None:
    """Describe one collection."""
    emit(args, collection_details(load(args.name, workspace_dir=args.workspace)))


def run_collections_delete(args: argparse.Namespace) -> None:
    """Delete one collection (exit 3 when it does not exist)."""
    workspace = Workspace(args.workspace)
    workspace.delete(args.name)
    emit(args, {"deleted": args.name, "workspace": str(workspace.root)}, f"deleted {args.name}")


def add_datasets(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``datasets list|info``."""
    parser = commands.add_parser(
        "datasets",
        parents=parents,
        help="the catalog of known datasets (built-in and your own)",
        epilog="examples:\n  rasteret datasets list\n"
        "  rasteret datasets info pc/sentinel-2-l2a --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "list", parents=parents, help="ids, titles, licences, endpoints"
    ).set_defaults(handler=run_datasets_list)
    info = actions.add_parser(
        "info", parents=parents, help="band map, cloud settings, licence of one dataset"
    )
    info.add_argument("dataset")
    info.set_defaults(handler=run_datasets_info)


def run_datasets_list(args: argparse.Namespace) -> None:
    """List every known dataset."""
    rows = [
        dataset_summary(entry, builtin=is_builtin(entry.id))
        for entry in datasets(workspace_dir=args.workspace)
    ]
    text = "\n".join(
        f"{r['id']:<30} {r['title'] or r['collection']}{'' if r['builtin'] else '  [user]'}"
        for r in rows
    )
    emit(args, rows, text)


def run_datasets_info(args: argparse.Namespace) -> None:
    """Describe one dataset (exit 3 for an unknown id, with close matches)."""
    entry = dataset_info(args.dataset, workspace_dir=args.workspace)
    emit(args, dataset_details(entry, builtin=is_builtin(entry.id)))
