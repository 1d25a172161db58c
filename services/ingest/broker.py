"""Ingest's one AMQP connection: opened in the background, kept up by aio-pika, watched for /readyz.

The service must start (and answer /healthz) while the broker is down, so the first connection is
retried here until it succeeds; after that aio-pika's robust connection reconnects by itself and
re-declares the topology on its channel.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aio_pika import RobustConnection
from aio_pika.abc import AbstractExchange, AbstractRobustChannel, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from yarl import URL

from shared.amqp import with_heartbeat
from shared.connection_errors import describe_broker_failure
from shared.logging import get_logger
from shared.topology import (
    Topology,
    TopologyMismatch,
    declare_events_exchange,
    declare_topology,
)

CONNECT_TIMEOUT_SECONDS = 10.0
TOPOLOGY_RETRY_SECONDS = 15.0

log = get_logger()


class BrokerLink:
    """The connection, the publishing channel and the events exchange, once they exist."""

    def __init__(
        self, amqp_url: str, topology: Topology, *, retry_interval_seconds: float = 2.0
    ) -> None:
        self._configured_url = amqp_url
        self._url = with_heartbeat(amqp_url)
        self._topology = topology
        self._retry_interval = retry_interval_seconds
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._opening: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        self._opening = asyncio.create_task(self._open_until_connected(), name="broker-connect")

    async def close(self) -> None:
        self._closing = True
        if self._opening is not None:
            self._opening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._opening
        if self._connection is not None:
            await self._connection.close()
            log.info("broker.closed")

    @property
    def is_connected(self) -> bool:
        # A robust connection keeps `is_closed` False while it reconnects; `connected` tells.
        return (
            self._connection is not None
            and self._connection.connected.is_set()
            and self._channel is not None
            and not self._channel.is_closed
        )

    @property
    def events_exchange(self) -> AbstractExchange | None:
        """The exchange to publish to, or None until the first connection is made."""
        return self._exchange

    async def _open_until_connected(self) -> None:
        while True:
            try:
                await self._open()
            except TopologyMismatch as exc:
                # Not ready until an operator fixes the broker; then it recovers by itself.
                log.error("broker.topology_mismatch", error=str(exc))
                await self._discard_connection()
                await asyncio.sleep(TOPOLOGY_RETRY_SECONDS)
            except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
                # One line naming AMQP_URL, its host and what to check, at every attempt.
                log.warning(
                    "broker.connect_failed",
                    error=describe_broker_failure(self._configured_url, exc),
                    retry_in=self._retry_interval,
                )
                await self._discard_connection()
                await asyncio.sleep(self._retry_interval)
            else:
                return

    async def _open(self) -> None:
        # Built before connecting so that `close()` can also stop an attempt still in progress.
        connection = RobustConnection(URL(self._url))
        self._connection = connection
        await connection.connect(timeout=CONNECT_TIMEOUT_SECONDS)
        # on_return_raises: an unroutable message must fail the publish, not look confirmed.
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        # The whole topology, so the work queue exists before the first event is published.
        await declare_topology(channel, self._topology)
        self._exchange = await declare_events_exchange(channel, self._topology)
        self._channel = channel
        connection.close_callbacks.add(self._on_connection_lost)
        connection.reconnect_callbacks.add(self._on_reconnected)
        log.info("broker.connected", exchange=self._topology.events_exchange)

    async def _discard_connection(self) -> None:
        connection, self._connection = self._connection, None
        self._channel = self._exchange = None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    def _on_connection_lost(self, _: Any, exc: BaseException | None) -> None:
        if not self._closing:
            log.warning("broker.disconnected", error=repr(exc))

    def _on_reconnected(self, _: Any) -> None:
        log.info("broker.connected", exchange=self._topology.events_exchange, reconnected=True)
