"""Lenient views of RD's answers (`services.crm_writer.rdstation.resources`)."""

from __future__ import annotations

from typing import Any

import pytest

from services.crm_writer.rdstation.resources import contact_deal_ids, merged_deal_ids, rd_id


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
