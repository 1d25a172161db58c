"""Records rendered the way RD v1 answers: ``_id`` and ``id`` together, ``-03:00`` timestamps,
``amount_montly`` misspelled, and different field sets for list items and single resources."""

from __future__ import annotations

from typing import Any, Literal

from sandbox.rdstation.ids import rd_timestamp
from sandbox.rdstation.models import (
    Contact,
    CustomField,
    CustomValue,
    Deal,
    DealProduct,
    Pipeline,
    Stage,
    User,
)
from sandbox.rdstation.state import SandboxState

ContactShape = Literal["get", "list", "of_deal"]


def render_user(user: User) -> dict[str, Any]:
    return {
        "_id": user.id,
        "id": user.id,
        "name": user.name,
        "nickname": user.nickname,
        "email": user.email,
        "active": user.active,
        "hidden": user.hidden,
        "last_login": rd_timestamp(user.last_login),
        "created_at": rd_timestamp(user.created_at),
        "updated_at": rd_timestamp(user.updated_at),
    }


def render_pipeline(pipeline: Pipeline) -> dict[str, Any]:
    stages = [
        {
            "_id": stage.id,
            "id": stage.id,
            "name": stage.name,
            "nickname": stage.nickname,
            "order": stage.order,
            "configuration": [],
        }
        for stage in pipeline.stages
    ]
    return {
        "id": pipeline.id,
        "name": pipeline.name,
        "order": pipeline.order,
        "config": {},
        "deal_stages": stages,
    }


def render_stage(state: SandboxState, stage: Stage) -> dict[str, Any]:
    pipeline = state.pipeline(stage.pipeline_id)
    return {
        "_id": stage.id,
        "id": stage.id,
        "name": stage.name,
        "nickname": stage.nickname,
        "order": stage.order,
        "instance_id": state.ids.instance_id,
        "created_at": rd_timestamp(stage.created_at),
        "updated_at": rd_timestamp(stage.updated_at),
        "deal_pipeline": {
            "id": stage.pipeline_id,
            "name": pipeline.name if pipeline else None,
            "order": pipeline.order if pipeline else None,
        },
        "configuration": [],
    }


def render_custom_field(state: SandboxState, custom: CustomField) -> dict[str, Any]:
    rules = [{"always": True, "property": None, "value": None}] if custom.required else []
    return {
        "_id": custom.id,
        "id": custom.id,
        "label": custom.label,
        "type": custom.type,
        "for": custom.for_,
        "opts": list(custom.opts),
        "order": custom.order,
        "required": custom.required,
        "required_rules": rules,
        "unique": custom.unique,
        "visible": custom.visible,
        "allow_new": custom.allow_new,
        "instance_id": state.ids.instance_id,
        "created_at": rd_timestamp(custom.created_at),
        "updated_at": rd_timestamp(custom.updated_at),
    }


def render_contact(state: SandboxState, contact: Contact, shape: ContactShape) -> dict[str, Any]:
    """``get``: with ``deal_ids`` and ``organization``; ``list``: with ``deals``;
    ``of_deal``: neither (``GET /deals/{id}/contacts``)."""
    rendered: dict[str, Any] = {
        "_id": contact.id,
        "id": contact.id,
        "name": contact.name,
        "title": contact.title,
        "birthday": contact.birthday,
        "emails": [
            {
                "_id": e.id,
                "email": e.email,
                "created_at": rd_timestamp(e.created_at),
                "updated_at": None,
            }
            for e in contact.emails
        ],
        "phones": [
            {
                "_id": p.id,
                "phone": p.phone,
                "type": p.type,
                "created_at": rd_timestamp(p.created_at),
                "updated_at": None,
            }
            for p in contact.phones
        ],
        "contact_custom_fields": [_custom_value(v, None) for v in contact.custom_values],
        "legal_bases": [dict(basis) for basis in contact.legal_bases],
        "organization_id": contact.organization_id,
        "facebook": contact.facebook,
        "linkedin": contact.linkedin,
        "skype": contact.skype,
        "notes": contact.notes,
        "created_at": rd_timestamp(contact.created_at),
        "updated_at": rd_timestamp(contact.updated_at),
    }
    if shape == "get":
        rendered["deal_ids"] = list(contact.deal_ids)
        rendered["contact_c_f"] = {}
        rendered["organization"] = None
    elif shape == "list":
        deals = (state.deal(deal_id) for deal_id in contact.deal_ids)
        rendered["deals"] = [_deal_summary(deal) for deal in deals if deal is not None]
    return rendered


def render_deal(state: SandboxState, deal: Deal) -> dict[str, Any]:
    """A deal as ``GET/POST/PUT /deals`` answer it (no ``contacts``)."""
    stage = state.stage(deal.stage_id)
    pipeline = state.pipeline(stage.pipeline_id) if stage else None
    user = state.user(deal.user_id)
    return {
        **_deal_common(state, deal),
        "best_moment_to_touch": False,
        "c_cf_errors": {},
        "campaign": deal.campaign,
        "campaign_id": deal.campaign["_id"] if deal.campaign else None,
        "contact_errors": deal.contact_errors,
        "deal_lost_reason_id": deal.deal_lost_reason_id,
        "deal_lost_note": deal.deal_lost_note,
        "deal_pipeline": {"id": pipeline.id, "name": pipeline.name} if pipeline else None,
        "deal_pipeline_relation": {"parent_deal": None},
        "deal_source": deal.deal_source,
        "deal_source_id": deal.deal_source["_id"] if deal.deal_source else None,
        "deal_stage": {**_stage_ref(stage), "deal_pipeline_id": pipeline.id if pipeline else None},
        "deal_stage_histories": [
            {
                "_id": h.id,
                "id": h.id,
                "deal_stage_id": h.deal_stage_id,
                "start_date": rd_timestamp(h.start_date),
                "end_date": rd_timestamp(h.end_date),
            }
            for h in deal.stage_histories
        ],
        "errors": {},
        "from_rdsm_integration": False,
        "last_note_content": None,
        "organization": deal.organization,
        "user": {"_id": user.id, "id": user.id, "name": user.name} if user else None,
    }


def render_deal_in_list(state: SandboxState, deal: Deal) -> dict[str, Any]:
    """A ``GET /deals`` item: embedded contacts without ids, a lighter stage and user."""
    user = state.user(deal.user_id)
    stage = state.stage(deal.stage_id)
    contacts = state.contacts_of_deal(deal.id)
    return {
        **_deal_common(state, deal),
        "contacts": [_embedded_contact(contact) for contact in contacts],
        "deal_stage": {
            **_stage_ref(stage),
            "created_at": rd_timestamp(stage.created_at) if stage else None,
            "updated_at": rd_timestamp(stage.updated_at) if stage else None,
        },
        "last_activity_at": None,
        "last_activity_content": None,
        "markup": "future",
        "markup_created": None,
        "markup_last_activities": None,
        "user": _user_ref(user),
        "user_changed": False,
    }


def _deal_common(state: SandboxState, deal: Deal) -> dict[str, Any]:
    unique = round(sum(p.total for p in deal.products if p.recurrence == "spare"), 2)
    monthly = round(sum(p.total for p in deal.products if p.recurrence == "monthly"), 2)
    return {
        "_id": deal.id,
        "id": deal.id,
        "name": deal.name,
        "amount_montly": monthly,
        "amount_total": round(unique + monthly, 2),
        "amount_unique": unique,
        "closed_at": rd_timestamp(deal.closed_at),
        "created_at": rd_timestamp(deal.created_at),
        "updated_at": rd_timestamp(deal.updated_at),
        "deal_custom_fields": [
            _custom_value(v, state.custom_field(v.custom_field_id)) for v in deal.custom_values
        ],
        "deal_products": [_product(product) for product in deal.products],
        "hold": deal.hold,
        "interactions": 0,
        "prediction_date": deal.prediction_date,
        "rating": deal.rating,
        "stop_time_limit": {"expiration_date_time": None, "expired": False, "expired_days": None},
        "win": deal.win,
    }


def _stage_ref(stage: Stage | None) -> dict[str, Any]:
    if stage is None:
        return {"_id": None, "id": None, "name": None, "nickname": None}
    return {"_id": stage.id, "id": stage.id, "name": stage.name, "nickname": stage.nickname}


def _user_ref(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {
        "_id": user.id,
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "nickname": user.nickname,
    }


def _custom_value(value: CustomValue, custom: CustomField | None) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "custom_field_id": value.custom_field_id,
        "value": value.value,
        "created_at": rd_timestamp(value.created_at),
        "updated_at": rd_timestamp(value.updated_at),
    }
    if custom is not None:
        rendered["custom_field"] = {
            "_id": custom.id,
            "label": custom.label,
            "type": custom.type,
            "for": custom.for_,
            "opts": list(custom.opts),
            "order": custom.order,
            "required": custom.required,
            "unique": custom.unique,
            "visible": custom.visible,
            "allow_new": custom.allow_new,
        }
    return rendered


def _product(product: DealProduct) -> dict[str, Any]:
    return {
        "_id": product.id,
        "id": product.id,
        "product_id": product.product_id,
        "name": product.name,
        "amount": product.amount,
        "price": product.price,
        "base_price": product.price,
        "discount": product.discount,
        "discount_type": product.discount_type,
        "recurrence": product.recurrence,
        "total": product.total,
        "created_at": rd_timestamp(product.created_at),
        "updated_at": rd_timestamp(product.created_at),
    }


def _deal_summary(deal: Deal) -> dict[str, Any]:
    return {
        "_id": deal.id,
        "id": deal.id,
        "name": deal.name,
        "closed_at": rd_timestamp(deal.closed_at),
        "deal_lost_reason_id": deal.deal_lost_reason_id,
        "prediction_date": deal.prediction_date,
        "win": deal.win,
    }


def _embedded_contact(contact: Contact) -> dict[str, Any]:
    return {
        "name": contact.name,
        "title": contact.title,
        "birthday": contact.birthday,
        "emails": [{"email": e.email} for e in contact.emails],
        "phones": [{"phone": p.phone, "type": p.type} for p in contact.phones],
        "facebook": contact.facebook,
        "linkedin": contact.linkedin,
        "skype": contact.skype,
        "notes": contact.notes,
    }
