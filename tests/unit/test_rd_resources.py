"""Lenient views of RD's answers (`services.crm_writer.rdstation.resources`)."""

from __future__ import annotations

from typing import Any

import pytest

from services.crm_writer.rdstation.resources import (
    RdContact,
    RdDeal,
    contact_deal_ids,
    created_at_text,
    merged_deal_ids,
    oldest,
    rd_id,
)


def test_merged_deal_ids_keeps_existing_links() -> None:
    assert merged_deal_ids(["a", "b"], "c") == ["a", "b", "c"]
    assert merged_deal_ids(["a", "c"], "c") is None
    assert merged_deal_ids(None, "c") == ["c"]


def test_contact_deal_ids_from_get_or_list_shapes() -> None:
    assert contact_deal_ids({"deal_ids": ["a"]}) == ["a"]
    assert contact_deal_ids({"deals": [{"_id": "b", "id": "b"}]}) == ["b"]
    assert contact_deal_ids({}) == []


def test_contact_deal_ids_read_either_id_of_each_listed_deal() -> None:
    contact = {"deals": [{"_id": "d1"}, {"id": "d2"}, "not a deal"]}

    assert contact_deal_ids(contact) == ["d1", "d2"]


def test_an_rd_resource_is_known_by_either_id() -> None:
    assert rd_id({"_id": "a1", "id": "a1"}) == "a1"
    assert rd_id({"_id": "b2"}) == "b2"
    assert rd_id({"id": 3}) == "3"


@pytest.mark.parametrize("resource", [{}, {"_id": "", "id": None}, {"name": "x"}])
def test_an_rd_resource_without_an_id_is_an_error(resource: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"^RD resource without an id$"):
        rd_id(resource)


def test_a_deal_finds_a_custom_field_by_either_shape_rd_answers_with() -> None:
    deal = RdDeal(
        {
            "deal_custom_fields": [
                "not a field",
                {"value": "a value whose field is not said"},
                {"custom_field_id": "cf-a", "value": "doc-1"},
                {"custom_field": {"_id": "cf-b"}, "value": 42},
                {"custom_field_id": "cf-c", "value": None},
            ]
        }
    )

    assert deal.custom_field_value("cf-a") == "doc-1"
    assert deal.custom_field_value("cf-b") == "42"
    assert deal.custom_field_value("cf-c") is None
    assert deal.custom_field_value("cf-unknown") is None


@pytest.mark.parametrize("fields", [None, "cf-a", {"custom_field_id": "cf-a", "value": "x"}])
def test_a_deal_without_a_list_of_custom_fields_has_no_value(fields: object) -> None:
    assert RdDeal({"deal_custom_fields": fields}).custom_field_value("cf-a") is None


def test_the_first_custom_field_of_an_id_is_its_value() -> None:
    deal = RdDeal(
        {
            "deal_custom_fields": [
                {"custom_field": {"_id": "cf-a"}, "custom_field_id": None, "value": "first"},
                {"custom_field_id": "cf-a", "value": "second"},
            ]
        }
    )

    assert deal.custom_field_value("cf-a") == "first"


def test_a_deal_knows_its_stage_by_either_id_and_when_it_was_created() -> None:
    deal = RdDeal(
        {"_id": "d1", "deal_stage": {"id": "st-2"}, "created_at": "2026-03-28T11:00:00-03:00"}
    )

    assert (deal.id, deal.stage_id) == ("d1", "st-2")
    assert deal.created_at is not None
    assert deal.created_at.isoformat() == "2026-03-28T11:00:00-03:00"
    assert RdDeal({"deal_stage": "st-2"}).stage_id is None


def test_the_oldest_is_the_first_created_and_the_first_of_equals() -> None:
    first = {"id": "a", "created_at": "2026-01-02T00:00:00Z"}
    same_time = {"id": "b", "created_at": "2026-01-02T00:00:00Z"}
    older = {"id": "c", "created_at": "2026-01-01T00:00:00Z"}
    undated = {"id": "d"}

    assert oldest([first, same_time]) is first
    assert oldest([first, older]) is older
    assert oldest([first, undated]) is undated
    assert created_at_text({"created_at": None}) == ""
    assert created_at_text(older) == "2026-01-01T00:00:00Z"


def test_a_contact_adds_a_deal_to_the_deals_it_has_once() -> None:
    contact = RdContact({"id": "c1", "deals": [{"_id": "d1"}]})

    assert contact.id == "c1"
    assert contact.deal_ids_with("d2") == ["d1", "d2"]
    assert contact.deal_ids_with("d1") is None
