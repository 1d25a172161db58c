"""Typed keys for what crm_writer keeps on its aiohttp application."""

from __future__ import annotations

from dataclasses import dataclass

from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from services.crm_writer.clicksign import ClicksignClient
from services.crm_writer.consumer import DealConsumer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.observer import CrmWriterObserver
from services.crm_writer.rdstation import RdStationClient
from services.crm_writer.settings import CrmWriterSettings
from services.crm_writer.store import Store


@dataclass
class Runtime:
    """What the HTTP side needs to know about the consumer side."""

    connection: AbstractRobustConnection | None = None
    consumer: DealConsumer | None = None
    fatal: str | None = None
    # What the pipeline plans deals with, once start-up checked RD (the history page shows
    # what an event derives with it).
    deal_settings: DealSettings | None = None

    @property
    def consuming(self) -> bool:
        return (
            self.consumer is not None
            and self.connection is not None
            and self.connection.connected.is_set()
        )


SETTINGS = web.AppKey("settings", CrmWriterSettings)
STORE = web.AppKey("store", Store)
RD_CLIENT = web.AppKey("rd_client", RdStationClient)
# None without CLICKSIGN_ACCESS_TOKEN: thin webhooks are then not completed.
CLICKSIGN_CLIENT = web.AppKey[ClicksignClient | None]("clicksign_client")
RUNTIME = web.AppKey("runtime", Runtime)
OBSERVER = web.AppKey[CrmWriterObserver]("observer")
