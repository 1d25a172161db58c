"""The optional mapping file (``SIGNDEAL_CONFIG``, TOML): what environment variables express badly.

Deal title and custom fields as templates over the event, contact custom fields from signer data,
the stage per Clicksign event, marking the deal won when the document is finished, what to do on
cancel/refusal/deadline, and rules that route documents (by folder, file name, metadata) to
different pipelines — first match wins. Example in ``docs/signdeal.example.toml``.
"""

from __future__ import annotations

import difflib
import fnmatch
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from services.crm_writer.templates import TemplateError, TitleTemplate
from shared.events import SignedDocumentEvent


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
        raise MappingFileError(f"{location}: {describe_mapping_error(exc, data)}") from None


# -- what is wrong, in words (pydantic's own are about Python, not about a TOML file) ---------


def describe_mapping_error(exc: ValidationError, data: dict[str, Any]) -> str:
    """The first problem of a mapping file as a person fixes it: the key, the table it is in,
    what it must be, and the closest known key for a misspelt one."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    kind, given = error["type"], error.get("input")
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc:
        return message
    *outer, key = loc
    if isinstance(key, int):
        # An item of a list (a rule) as a whole.
        return f"{_table_name(loc, data)}: {message}"
    table = _table_name(tuple(outer), data)
    if kind == "extra_forbidden":
        known = _known_keys(tuple(outer))
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean `{close[0]}`?" if close else "known keys: " + ", ".join(known)
        return f"unknown key `{key}` in {table}; {hint}"
    if kind == "missing":
        return f"{table} needs `{key}`"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"`{key}` in {table} must be one of {expected}, not {given!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"`{key}` in {table} must be true or false (no quotes), not {given!r}"
    if kind == "string_type":
        return f"`{key}` in {table} must be text in quotes, not {given!r}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"`{key}` in {table} must be a table ([{_dotted(loc)}])"
    if kind == "list_type":
        return f"`{key}` in {table} must be a list of tables ([[{_dotted(loc)}]])"
    if _known_keys(loc):
        # A rule about a whole table, e.g. [deal.on_cancel]'s action and stage_id together.
        return f"{_table_name(loc, data)}: {message}"
    return f"`{key}` in {table}: {message}"


def _table_name(loc: tuple[int | str, ...], data: dict[str, Any]) -> str:
    """``[deal]``, ``[deal.on_cancel]``, ``[rules.deal] of rule 2 ("Parcerias")``, or ``the top
    level`` — as the TOML file writes it."""
    if not loc:
        return "the top level"
    name = f"[{_dotted(loc)}]"
    indexes = [(position, part) for position, part in enumerate(loc) if isinstance(part, int)]
    if not indexes:
        return name
    position, index = indexes[0]
    items = data.get(str(loc[0])) if position == 1 else None
    item = items[index] if isinstance(items, list) and index < len(items) else None
    label = item.get("name") if isinstance(item, dict) else None
    table = f"[[{_dotted(loc[:position])}]] number {index + 1}"
    if label:
        table += f' ("{label}")'
    rest = loc[position + 1 :]
    return f"[{_dotted((*loc[:position], *rest))}] of {table}" if rest else table


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc if not isinstance(part, int))


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed in the table at ``loc`` (none when ``loc`` is not a table)."""
    model: type[BaseModel] | None = MappingFile
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The model a field holds, through ``X | None`` and ``list[X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
