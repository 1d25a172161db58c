"""``signdeal check``: is this configuration going to work? Validate it, then reach out."""

from __future__ import annotations

import argparse
import os

from services.crm_writer import wiring
from services.crm_writer.deal_plan import Skip, plan_deal
from services.crm_writer.settings import CrmWriterSettings
from signdeal_cli.clicksign_checks import check_clicksign_token
from signdeal_cli.console import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, print_json
from signdeal_cli.environment import (
    crm_writer_settings,
    ingest_settings,
    rd_client,
    sandbox_warning,
)
from signdeal_cli.infrastructure_checks import check_broker, check_store
from signdeal_cli.mapping_checks import field_uses, sample_event
from signdeal_cli.parsing import Subcommands, add_command
from signdeal_cli.rd_checks import RdAccountChecks
from signdeal_cli.verdicts import Status, Verdict, render_verdicts

EPILOG = """\
exit status: 0 every check passed (warnings allowed), 1 a check failed,
             2 the configuration itself is invalid

examples:
  signdeal check
  signdeal check --json | jq '.checks[] | select(.status == "fail")'
"""


def register(commands: Subcommands) -> None:
    add_command(
        commands,
        "check",
        run,
        summary="validate the configuration; reach RD Station, Clicksign, the broker, the store",
        description=(
            "Validate crm_writer's configuration (and ingest's, if CLICKSIGN_WEBHOOK_SECRET is "
            "set), then check the RD token, the deal stage and its pipeline, the owner, the "
            "document-key custom field, the Clicksign API token, the broker and its queues, and "
            "the store."
        ),
        epilog=EPILOG,
    )


async def run(args: argparse.Namespace) -> int:
    try:
        settings = crm_writer_settings()
    except CliError as exc:
        verdicts = [Verdict.fail("configuration", exc.message)]
        _report(args, None, verdicts)
        return EXIT_USAGE
    verdicts = [configuration_verdict(settings), mapping_verdict(settings), ingest_verdict()]
    async with rd_client(settings) as rd:
        verdicts += await RdAccountChecks(rd, settings).run()
    verdicts.append(await check_clicksign_token(settings))
    verdicts += await check_broker(settings)
    verdicts.append(await check_store(settings))
    _report(args, settings, verdicts)
    if any(v.status is Status.FAIL and v.check.endswith("configuration") for v in verdicts):
        return EXIT_USAGE
    return EXIT_FAILED if any(v.status is Status.FAIL for v in verdicts) else EXIT_OK


def configuration_verdict(settings: CrmWriterSettings) -> Verdict:
    """crm_writer's settings are valid; show what they make of a sample document."""
    where = "the RD sandbox" if settings.uses_sandbox else "RD Station CRM"
    return Verdict.ok(
        "configuration", f"crm_writer settings valid; deals go to {where}; {_sample_deal(settings)}"
    )


def _sample_deal(settings: CrmWriterSettings) -> str:
    deal = wiring.deal_settings(settings, settings.rdstation_deal_stage_id or "")
    sample = sample_event()
    plan = plan_deal(sample, deal)
    if isinstance(plan, Skip):
        return f"a sample document in {sample.document.path} makes no deal: {plan.reason}"
    rule = f" (rule {plan.rule!r})" if deal.mapping is not None and deal.mapping.rules else ""
    return f'a sample deal title{rule}: "{plan.title}"'


def mapping_verdict(settings: CrmWriterSettings) -> Verdict:
    """The mapping file was validated with the settings; say what it contains."""
    name = "mapping file"
    mapping = settings.mapping_file()
    if mapping is None:
        return Verdict.skip(
            name, "SIGNDEAL_CONFIG not set: stage, title and owner come from the environment"
        )
    rules = ", ".join(f'"{rule.name}"' for rule in mapping.rules) or "none"
    return Verdict.ok(
        name,
        f"{settings.signdeal_config} is valid: rules {rules}; "
        f"{len(mapping.stage_ids())} stage id(s), {len(field_uses(mapping))} custom field(s)",
    )


def ingest_verdict() -> Verdict:
    name = "ingest configuration"
    if not os.environ.get("CLICKSIGN_WEBHOOK_SECRET"):
        return Verdict.skip(
            name, "CLICKSIGN_WEBHOOK_SECRET not set here (ingest and send-test need it)"
        )
    try:
        settings = ingest_settings()
    except CliError as exc:
        return Verdict.fail(name, exc.message)
    secrets = len(settings.webhook_secrets)
    events = ", ".join(sorted(settings.clicksign_trigger_events))
    return Verdict.ok(
        name, f"{secrets} webhook secret(s); trigger events: {events}; port {settings.ingest_port}"
    )


def _report(
    args: argparse.Namespace, settings: CrmWriterSettings | None, verdicts: list[Verdict]
) -> None:
    warning = sandbox_warning(settings) if settings is not None else None
    if args.json:
        print_json(
            {
                "ok": not any(v.status is Status.FAIL for v in verdicts),
                "sandbox": settings.uses_sandbox if settings is not None else None,
                "rd_base_url": settings.rd_base_url if settings is not None else None,
                "warning": warning,
                "checks": verdicts,
            }
        )
        return
    if warning:
        print(f"!! {warning}\n")
    print(render_verdicts(verdicts))
    failed = sum(v.status is Status.FAIL for v in verdicts)
    warned = sum(v.status is Status.WARN for v in verdicts)
    print()
    if failed:
        print(f"{failed} check(s) failed, {warned} warning(s).")
    else:
        print(f"all checks passed, {warned} warning(s).")
