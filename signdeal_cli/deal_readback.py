"""Read a deal back from RD Station: the seed's last step, "the deal sits in the funnel and its
Contacts tab shows the signer"."""

from __future__ import annotations

from typing import Any

from services.crm_writer.rdstation import RdStationError
from services.crm_writer.settings import CrmWriterSettings
from signdeal_cli.environment import rd_client


async def read_back_deal(settings: CrmWriterSettings, deal_id: str) -> dict[str, Any]:
    """The deal's name, stage, pipeline and linked contacts; ``{"error": …}`` if RD won't say."""
    try:
        async with rd_client(settings) as rd:
            deal = await rd.get_deal(deal_id)
            contacts = await rd.list_deal_contacts(deal_id)
    except RdStationError as exc:
        return {"id": deal_id, "error": str(exc)}
    return {
        "id": deal_id,
        "name": deal.get("name"),
        "stage": _name(deal.get("deal_stage")),
        "pipeline": _name(deal.get("deal_pipeline")),
        "contacts": [_contact(contact) for contact in contacts],
    }


def _name(reference: object) -> str | None:
    return str(reference.get("name")) if isinstance(reference, dict) else None


def _contact(contact: dict[str, Any]) -> str:
    emails = contact.get("emails")
    email = None
    if isinstance(emails, list) and emails and isinstance(emails[0], dict):
        email = emails[0].get("email")
    name = str(contact.get("name") or "?")
    return f"{name} <{email}>" if email else name
