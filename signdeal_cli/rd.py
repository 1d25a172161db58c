"""``signdeal rd …``: the RD Station CRM ids an operator needs for the configuration.

Rows are normalised (``id`` whatever RD called it), so ``--json`` has one stable shape:
``signdeal rd stages --json | jq -r '.[] | select(.name == "Em assinatura") | .id'``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from services.crm_writer.rdstation import RdStationClient, RdStationError
from services.crm_writer.settings import CrmWriterSettings
from signdeal_cli.console import EXIT_OK, CliError, print_json, print_table
from signdeal_cli.environment import crm_writer_settings, rd_client, sandbox_warning
from signdeal_cli.parsing import Subcommands, add_command
from signdeal_cli.rd_checks import record_id

CONFIGURED = "*"


def register(commands: Subcommands) -> None:
    group = commands.add_parser(
        "rd",
        help="list RD Station pipelines, stages, users and custom fields with their ids",
        description="The RD Station CRM ids an operator needs for the configuration.",
    )
    rd_commands = group.add_subparsers(dest="rd_command", metavar="COMMAND", required=True)
    add_command(
        rd_commands,
        "pipelines",
        pipelines,
        summary="sales funnels (funis de vendas) with their stages",
    )
    stages_parser = add_command(
        rd_commands,
        "stages",
        stages,
        summary="stages (etapas): the ids RDSTATION_DEAL_STAGE_ID takes",
        epilog="* marks the stage in RDSTATION_DEAL_STAGE_ID",
    )
    stages_parser.add_argument(
        "--pipeline", metavar="ID", help="only this pipeline's stages (default: every pipeline)"
    )
    add_command(
        rd_commands,
        "users",
        users,
        summary="users: the ids RDSTATION_DEAL_OWNER_ID takes",
        epilog="* marks the user in RDSTATION_DEAL_OWNER_ID",
    )
    fields_parser = add_command(
        rd_commands,
        "custom-fields",
        custom_fields,
        summary="custom fields: the ids RDSTATION_DOCUMENT_KEY_FIELD_ID takes",
        epilog="* marks the field in RDSTATION_DOCUMENT_KEY_FIELD_ID",
    )
    fields_parser.add_argument(
        "--for",
        dest="owner",
        choices=("deal", "contact", "organization"),
        help="only fields of deals, contacts or organizations (default: all)",
    )


Listing = Callable[[RdStationClient, argparse.Namespace], Awaitable[list[dict[str, Any]]]]


async def _rows(args: argparse.Namespace, listing: Listing) -> tuple[CrmWriterSettings, list[Any]]:
    settings = crm_writer_settings(stage_required=False)
    warning = sandbox_warning(settings)
    if warning and not args.json:
        print(f"!! {warning}\n", file=sys.stderr)
    try:
        async with rd_client(settings) as rd:
            return settings, await listing(rd, args)
    except RdStationError as exc:
        raise CliError(f"RD Station at {settings.rd_base_url}: {exc}") from None


# -- pipelines and stages ---------------------------------------------------------------------


async def _pipelines(rd: RdStationClient, _: argparse.Namespace) -> list[dict[str, Any]]:
    found = []
    for pipeline in await rd.list_pipelines():
        stages = pipeline.get("deal_stages")
        if not isinstance(stages, list):
            stages = await rd.list_stages(record_id(pipeline))
        found.append(
            {
                "id": record_id(pipeline),
                "name": pipeline.get("name"),
                "order": pipeline.get("order"),
                "stages": [_stage(stage, pipeline) for stage in stages if isinstance(stage, dict)],
            }
        )
    return found


def _stage(stage: dict[str, Any], pipeline: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": record_id(stage),
        "name": stage.get("name"),
        "nickname": stage.get("nickname"),
        "order": stage.get("order"),
        "pipeline_id": record_id(pipeline),
        "pipeline_name": pipeline.get("name"),
    }


async def pipelines(args: argparse.Namespace) -> int:
    _, found = await _rows(args, _pipelines)
    if args.json:
        print_json(found)
        return EXIT_OK
    rows = [
        (p["id"], p["name"], len(p["stages"]), ", ".join(str(s["name"]) for s in p["stages"]))
        for p in found
    ]
    print_table(("ID", "NAME", "STAGES", "STAGE NAMES"), rows, empty="(no pipelines)")
    return EXIT_OK


async def stages(args: argparse.Namespace) -> int:
    settings, found = await _rows(args, _pipelines)
    if args.pipeline:
        found = [p for p in found if p["id"] == args.pipeline]
        if not found:
            raise CliError(f"no pipeline {args.pipeline} (`signdeal rd pipelines` lists them)")
    listed = [stage for pipeline in found for stage in pipeline["stages"]]
    if args.json:
        print_json(listed)
        return EXIT_OK
    chosen = settings.rdstation_deal_stage_id
    rows = [
        (
            CONFIGURED if s["id"] == chosen else "",
            s["id"],
            s["name"],
            s["nickname"],
            s["order"],
            f"{s['pipeline_name']} ({s['pipeline_id']})",
        )
        for s in listed
    ]
    print_table(("", "ID", "NAME", "NICKNAME", "ORDER", "PIPELINE"), rows, empty="(no stages)")
    return EXIT_OK


# -- users and custom fields ------------------------------------------------------------------


async def _users(rd: RdStationClient, _: argparse.Namespace) -> list[dict[str, Any]]:
    return [
        {
            "id": record_id(user),
            "name": user.get("name"),
            "email": user.get("email"),
            "active": user.get("active"),
        }
        for user in await rd.list_users()
    ]


async def users(args: argparse.Namespace) -> int:
    settings, found = await _rows(args, _users)
    if args.json:
        print_json(found)
        return EXIT_OK
    owner = settings.rdstation_deal_owner_id
    rows = [
        (CONFIGURED if u["id"] == owner else "", u["id"], u["name"], u["email"], u["active"])
        for u in found
    ]
    print_table(("", "ID", "NAME", "EMAIL", "ACTIVE"), rows, empty="(no users)")
    return EXIT_OK


async def _custom_fields(rd: RdStationClient, args: argparse.Namespace) -> list[dict[str, Any]]:
    found = await rd.list_custom_fields(args.owner)
    return [
        {
            "id": record_id(field),
            "label": field.get("label"),
            "for": field.get("for"),
            "type": field.get("type"),
            "options": field.get("opts") or [],
            "required": bool(field.get("required")),
            "unique": bool(field.get("unique")),
        }
        for field in found
        # Filtered here too: a server that ignored ``for`` must not pass contact fields off as
        # deal fields.
        if args.owner is None or field.get("for") == args.owner
    ]


async def custom_fields(args: argparse.Namespace) -> int:
    settings, found = await _rows(args, _custom_fields)
    if args.json:
        print_json(found)
        return EXIT_OK
    key_field = settings.rdstation_document_key_field_id
    rows = [
        (
            CONFIGURED if f["id"] == key_field else "",
            f["id"],
            f["for"],
            f["label"],
            f["type"],
            ", ".join(str(option) for option in f["options"]) or None,
            f["required"],
            f["unique"],
        )
        for f in found
    ]
    headers = ("", "ID", "FOR", "LABEL", "TYPE", "OPTIONS", "REQUIRED", "UNIQUE")
    print_table(headers, rows, empty="(no custom fields)")
    return EXIT_OK
