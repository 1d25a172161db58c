"""``signdeal check`` against RD Station: the token, the stage, the owner, the custom fields.

Each check returns a `Verdict`; none raises for a problem RD reports, so one bad setting does
not hide the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.crm_writer.mapping_file import MappingFile
from services.crm_writer.rdstation import (
    RdStationClient,
    RdStationError,
    RdStationForbidden,
    RdStationNotFound,
    RdStationUnauthorized,
    RdStationUnavailable,
)
from services.crm_writer.rdstation.resources import resource_id
from services.crm_writer.settings import CrmWriterSettings
from services.crm_writer.wiring import entry_stage
from signdeal_cli.mapping_checks import (
    CHOICE_TYPES,
    TEXT_TYPES,
    check_mapping_fields,
    check_mapping_stages,
    deal_fields_always_filled,
    mapping_owner_ids,
    sample_event,
)
from signdeal_cli.verdicts import Verdict

NOT_TEXT_TYPES = CHOICE_TYPES | {"date"}


def record_id(record: dict[str, Any]) -> str:
    """The record's id as the command shows it: empty when RD gave none."""
    return resource_id(record) or ""


def quoted(name: object, identifier: str) -> str:
    return f'"{name}" ({identifier})'


@dataclass
class RdAccountChecks:
    rd: RdStationClient
    settings: CrmWriterSettings

    async def run(self) -> list[Verdict]:
        token, whoami = await self.token()
        mapping = self.settings.mapping_file()
        if whoami is None:
            later = ["deal stage", "deal owner", "document-key field", "required deal fields"]
            if mapping is not None:
                later[1:1] = ["mapping stages", "mapping custom fields"]
            return [token, *(Verdict.skip(name, "needs a working RD token") for name in later)]
        verdicts = [token, await self.stage()]
        if mapping is not None:
            verdicts.append(await check_mapping_stages(self.rd, mapping, self._source))
        verdicts.append(await self.owner(whoami, mapping))
        try:
            fields = await self.rd.list_custom_fields()
        except RdStationError as exc:
            failed = f"could not list custom fields: {exc}"
            names = ["document-key field", "required deal fields"]
            if mapping is not None:
                names.insert(0, "mapping custom fields")
            return [*verdicts, *(Verdict.fail(name, failed) for name in names)]
        if mapping is not None:
            verdicts.append(check_mapping_fields(mapping, fields, sample_event(), self._source))
        return [*verdicts, self.document_key_field(fields), self.required_fields(fields, mapping)]

    @property
    def _source(self) -> str:
        return str(self.settings.signdeal_config)

    async def token(self) -> tuple[Verdict, dict[str, Any] | None]:
        try:
            whoami = await self.rd.check_token()
        except (RdStationUnauthorized, RdStationForbidden) as exc:
            return Verdict.fail("RD token", self._refused(exc)), None
        except RdStationUnavailable as exc:
            return Verdict.fail("RD token", self._unreachable(exc)), None
        except RdStationError as exc:
            return Verdict.fail("RD token", f"RD answered /token/check with an error: {exc}"), None
        detail = (
            f"valid: {whoami.get('name')} <{whoami.get('email')}>, "
            f'organization "{whoami.get("organization")}"'
        )
        return Verdict.ok("RD token", detail), whoami

    async def stage(self) -> Verdict:
        stage_id = self.settings.rdstation_deal_stage_id
        note = ""
        try:
            if not stage_id:
                # The stage crm_writer picks when the sandbox runs without a stage id.
                stage_id = await entry_stage(self.settings, self.rd)
                if stage_id is None:
                    return Verdict.fail("deal stage", "the sandbox has no pipeline with stages")
                note = " (sandbox default: the first stage; RDSTATION_DEAL_STAGE_ID chooses one)"
            stage = await self.rd.get_stage(stage_id)
            pipeline = await self._pipeline_of(stage, stage_id)
        except RdStationNotFound:
            return Verdict.fail(
                "deal stage",
                f"RDSTATION_DEAL_STAGE_ID {stage_id} is not a stage of this RD Station account "
                "(`signdeal rd stages` lists them)",
            )
        except RdStationError as exc:
            return Verdict.fail("deal stage", f"could not read stage {stage_id}: {exc}")
        where = quoted(pipeline.get("name"), record_id(pipeline)) if pipeline else "an unknown"
        detail = f"{quoted(stage.get('name'), stage_id)} in pipeline {where}{note}"
        return Verdict.ok("deal stage", detail)

    async def owner(self, whoami: dict[str, Any], mapping: MappingFile | None) -> Verdict:
        owners = {"RDSTATION_DEAL_OWNER_ID": self.settings.rdstation_deal_owner_id or ""}
        if mapping is not None:
            owners |= {f"{self._source}: {k}": v for k, v in mapping_owner_ids(mapping).items()}
        owners = {where: owner for where, owner in owners.items() if owner}
        if not owners:
            return Verdict.ok(
                "deal owner", f"not set: deals belong to the token's user, {whoami.get('name')}"
            )
        try:
            users = {record_id(user): user for user in await self.rd.list_users()}
        except RdStationError as exc:
            return Verdict.fail("deal owner", f"could not list users: {exc}")
        problems, found = [], []
        for where, owner_id in owners.items():
            user = users.get(owner_id)
            if user is None:
                problems.append(f"{where} {owner_id} is not a user of this account")
                continue
            who = f"{user.get('name')} <{user.get('email')}> ({owner_id})"
            if user.get("active") is False:
                problems.append(f"{where}: {who} is not an active user")
            found.append(who)
        if problems:
            return Verdict.fail("deal owner", "; ".join(problems) + " (`signdeal rd users`)")
        return Verdict.ok("deal owner", ", ".join(dict.fromkeys(found)))

    def document_key_field(self, fields: list[dict[str, Any]]) -> Verdict:
        name = "document-key field"
        field_id = self.settings.rdstation_document_key_field_id
        if not field_id:
            return Verdict.skip(
                name,
                "RDSTATION_DOCUMENT_KEY_FIELD_ID not set: after a crash, deals are found again "
                "by their title only",
            )
        found = next((field for field in fields if record_id(field) == field_id), None)
        if found is None:
            return Verdict.fail(
                name,
                f"RDSTATION_DOCUMENT_KEY_FIELD_ID {field_id} is not a custom field of this "
                "account (`signdeal rd custom-fields --for deal` lists them)",
            )
        label, owner, type_ = (
            quoted(found.get("label"), field_id),
            found.get("for"),
            found.get("type"),
        )
        if owner != "deal":
            return Verdict.fail(name, f"{label} is a {owner} field; it must be a deal field")
        if type_ in NOT_TEXT_TYPES:
            return Verdict.fail(
                name, f"{label} is a {type_} field; the document key needs a text field"
            )
        if type_ not in TEXT_TYPES:
            return Verdict.warn(name, f"{label} has type {type_!r}, not known to hold free text")
        return Verdict.ok(name, f"{label}, a deal {type_} field")

    def required_fields(self, fields: list[dict[str, Any]], mapping: MappingFile | None) -> Verdict:
        """Deal fields RD requires and signdeal does not fill make RD refuse every deal."""
        name = "required deal fields"
        filled = deal_fields_always_filled(mapping) if mapping is not None else set()
        if self.settings.rdstation_document_key_field_id:
            filled.add(self.settings.rdstation_document_key_field_id)
        required = [
            field
            for field in fields
            if field.get("for") == "deal"
            and field.get("required")
            and record_id(field) not in filled
        ]
        always = [field for field in required if _required_always(field)]
        if always:
            labels = ", ".join(quoted(field.get("label"), record_id(field)) for field in always)
            return Verdict.fail(
                name, f"RD requires {labels} on every deal and signdeal does not fill it"
            )
        if required:
            labels = ", ".join(quoted(field.get("label"), record_id(field)) for field in required)
            return Verdict.warn(name, f"{labels} required under some conditions (stage rules)")
        return Verdict.ok(name, "none that signdeal leaves empty")

    async def _pipeline_of(self, stage: dict[str, Any], stage_id: str) -> dict[str, Any] | None:
        pipeline = stage.get("deal_pipeline")
        if isinstance(pipeline, dict) and pipeline.get("name"):
            return pipeline
        for candidate in await self.rd.list_pipelines():
            stages = candidate.get("deal_stages")
            if isinstance(stages, list) and any(
                isinstance(item, dict) and record_id(item) == stage_id for item in stages
            ):
                return candidate
        return None

    def _refused(self, exc: RdStationError) -> str:
        if self.settings.uses_sandbox:
            return f"the sandbox refused its token: {exc}"
        return (
            f"RD Station refused RDSTATION_CRM_TOKEN: {exc}; copy the instance token from "
            "RD Station CRM (Perfil → Gerar token)"
        )

    def _unreachable(self, exc: RdStationError) -> str:
        where = self.settings.rd_base_url
        if self.settings.uses_sandbox:
            return (
                f"the RD sandbox at {where} does not answer ({exc}); `make run` starts it, "
                "or `python -m sandbox.rdstation`"
            )
        return f"RD Station at {where} does not answer: {exc}"


def _required_always(field: dict[str, Any]) -> bool:
    rules = field.get("required_rules")
    if not isinstance(rules, list) or not rules:
        return True
    return any(isinstance(rule, dict) and rule.get("always") for rule in rules)
