"""How the history's readers (the page, `signdeal history show`) show one recorded API call
(`services.crm_writer.api_call.ApiCall.as_history`): its target and, when it failed, its error
in one sentence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import orjson

from services.crm_writer.rdstation.errors import describe_error_body


def call_target(call: Mapping[str, Any]) -> str:
    """A recorded call's path with its query, as the history's readers show it."""
    target = str(call.get("path") or "")
    query = call.get("query")
    if isinstance(query, dict) and query:
        target += "?" + urlencode({str(k): str(v) for k, v in query.items()}, safe="@")
    return target


def error_summary(response: Any) -> str:
    """A recorded error answer in one sentence, whatever its shape (JSON, HTML, nothing)."""
    if isinstance(response, str):
        return describe_error_body(response.encode(), "text/html")
    body = orjson.dumps(response) if response is not None else b""
    return describe_error_body(body, "application/json")
