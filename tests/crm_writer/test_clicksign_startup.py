"""crm_writer's start-up with and without CLICKSIGN_ACCESS_TOKEN: one warning, or one client."""

from __future__ import annotations

import io
from pathlib import Path

import orjson

from services.crm_writer.app import _clicksign_client_ctx, create_app
from services.crm_writer.keys import CLICKSIGN_CLIENT, STORE
from services.crm_writer.settings import CrmWriterSettings
from services.crm_writer.store import open_store
from shared.logging import configure_logging


def settings(tmp_path: Path, **values: str) -> CrmWriterSettings:
    return CrmWriterSettings(store_url=f"sqlite:///{tmp_path}/s.db", **values)  # type: ignore[arg-type]


def log_events(output: io.StringIO) -> list[tuple[str, str]]:
    lines = [orjson.loads(line) for line in output.getvalue().splitlines()]
    return [(line["event"], line["level"]) for line in lines]


async def test_without_a_token_one_warning_says_thin_events_will_not_be_completed(
    tmp_path: Path,
) -> None:
    output = io.StringIO()
    configure_logging("crm_writer", "INFO", stream=output)
    app = create_app(settings(tmp_path))
    context = _clicksign_client_ctx(app)

    await anext(context)

    assert app[CLICKSIGN_CLIENT] is None
    assert log_events(output) == [("clicksign.enrichment_disabled", "warning")]
    assert "thin webhooks" in output.getvalue()
    await context.aclose()


async def test_with_a_token_the_client_reads_the_configured_api(tmp_path: Path) -> None:
    output = io.StringIO()
    configure_logging("crm_writer", "INFO", stream=output)
    app = create_app(
        settings(
            tmp_path,
            clicksign_access_token="the-token",
            clicksign_api_base_url="https://sandbox.clicksign.com/",
        )
    )
    app[STORE] = open_store(f"sqlite:///{tmp_path}/signdeal.db")  # built, never opened here
    context = _clicksign_client_ctx(app)

    await anext(context)

    client = app[CLICKSIGN_CLIENT]
    assert client is not None
    assert (client.base_url, client.token) == ("https://sandbox.clicksign.com", "the-token")
    assert client.limiter.per_period == 20 * 0.98
    assert log_events(output) == [("clicksign.enrichment_enabled", "info")]
    assert "the-token" not in output.getvalue()
    await context.aclose()
