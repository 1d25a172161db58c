"""The optional mapping file (``SIGNDEAL_CONFIG``, TOML): what environment variables express badly.

Deal title and custom fields as templates over the event, contact custom fields from signer data,
the stage per Clicksign event, marking the deal won when the document is finished, what to do on
cancel/refusal/deadline, and rules that route documents (by folder, file name, metadata) to
different pipelines — first match wins. Example in ``docs/signdeal.example.toml``.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from services.crm_writer.mapping import TemplateError, TitleTemplate
from shared.events import SignedDocumentEvent

CANCEL_EVENTS = ("cancel", "refusal", "deadline")


class MappingFileError(ValueError):
    """The mapping file is missing, not TOML, or says something that cannot work."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_template(value: str) -> str:
    try:
        TitleTemplate(value)
    except TemplateError as exc:
        raise ValueError(str(exc)) from None
    return value


Template = Annotated[str, AfterValidator(_check_template)]


class OnCancel(_Strict):
    """``cancel``, ``refusal`` and ``deadline`` events (add them to CLICKSIGN_TRIGGER_EVENTS)."""

    action: Literal["ignore", "move", "lose"] = "ignore"
    stage_id: str | None = None
    lost_reason_id: str | None = None

    @model_validator(mode="after")
    def _move_needs_a_stage(self) -> OnCancel:
        if self.action == "move" and not self.stage_id:
            raise ValueError('action "move" needs stage_id')
        return self


class DealMapping(_Strict):
    """How deals are made; in a rule, only what the rule sets overrides the file's ``[deal]``."""

    title: Template | None = None
    stage_id: str | None = None
    owner_id: str | None = None
    custom_fields: dict[str, Template] = Field(default_factory=dict)
    stages: dict[str, str] = Field(default_factory=dict)
    won_on_finish: bool | None = None
    on_cancel: OnCancel | None = None
    # A deal RD no longer has (a salesperson deleted or merged it): create the document's deal
    # again (default), or leave the document without one (false).
    recreate_deleted: bool | None = None

    def over(self, base: DealMapping) -> DealMapping:
        """This mapping with ``base`` filling whatever it leaves unset."""
        return DealMapping(
            title=self.title or base.title,
            stage_id=self.stage_id or base.stage_id,
            owner_id=self.owner_id or base.owner_id,
            custom_fields={**base.custom_fields, **self.custom_fields},
            stages={**base.stages, **self.stages},
            won_on_finish=self.won_on_finish
            if self.won_on_finish is not None
            else base.won_on_finish,
            on_cancel=self.on_cancel or base.on_cancel,
            recreate_deleted=self.recreate_deleted
            if self.recreate_deleted is not None
            else base.recreate_deleted,
        )


class ContactMapping(_Strict):
    title: Template | None = None
    custom_fields: dict[str, Template] = Field(default_factory=dict)


class Rule(_Strict):
    """Which documents a rule takes; the rule's ``deal`` settings override the file's."""

    name: str
    folder: str | None = None
    filename: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    deal: DealMapping = Field(default_factory=DealMapping)

    def matches(self, event: SignedDocumentEvent) -> bool:
        document = event.document
        if self.folder and not (document.path or "").startswith(self.folder):
            return False
        if self.filename and not fnmatch.fnmatch(document.filename or "", self.filename):
            return False
        return all(str(document.metadata.get(key)) == value for key, value in self.metadata.items())


class MappingFile(_Strict):
    deal: DealMapping = Field(default_factory=DealMapping)
    contact: ContactMapping = Field(default_factory=ContactMapping)
    rules: list[Rule] = Field(default_factory=list)

    def deal_for(self, event: SignedDocumentEvent) -> tuple[str, DealMapping] | None:
        """The rule name and deal mapping for this document; None when rules exist and the
        document matches none of them (it is not for signdeal)."""
        if not self.rules:
            return "default", self.deal
        for rule in self.rules:
            if rule.matches(event):
                return rule.name, rule.deal.over(self.deal)
        return None

    def stage_ids(self) -> dict[str, str]:
        """Every stage id the file names, keyed by where it is named (for start-up checks)."""
        found: dict[str, str] = {}
        sections = [("deal", self.deal)] + [
            (f"rules[{index}].deal", rule.deal) for index, rule in enumerate(self.rules)
        ]
        for where, deal in sections:
            if deal.stage_id:
                found[f"{where}.stage_id"] = deal.stage_id
            for event_name, stage_id in deal.stages.items():
                found[f"{where}.stages.{event_name}"] = stage_id
            if deal.on_cancel and deal.on_cancel.stage_id:
                found[f"{where}.on_cancel.stage_id"] = deal.on_cancel.stage_id
        return found


def load_mapping_file(path: str | Path) -> MappingFile:
    """Read and validate the file; errors name the file, the key and what is wrong."""
    location = Path(path)
    try:
        data = tomllib.loads(location.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingFileError(f"{location}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingFileError(f"{location}: not valid TOML: {exc}") from None
    try:
        return MappingFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise MappingFileError(f"{location}: {key}: {message}") from None
