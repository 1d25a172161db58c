"""Baselines for ingest: aiohttp doing only the work no webhook receiver can avoid.

``python -m bench.baseline_app --port N --secret S`` reads the body, checks the HMAC and answers
202: the framework's ceiling (same signature check as ingest, `shared.signature`; no parsing, no
broker, no logging).

With ``--amqp-url URL --topology-prefix P`` it also publishes the raw body to ingest's events
exchange, persistent and ``mandatory``, and answers 202 only once the broker confirmed it: the
unavoidable work of a webhook receiver that loses nothing. What ingest costs beyond this one is
signdeal's own code (parsing, the event, its message, logs, metrics).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator

import aio_pika
from aio_pika.abc import AbstractExchange
from aiohttp import web

from shared.eventloop import new_event_loop
from shared.signature import SIGNATURE_HEADER, InvalidSignature, verify_clicksign_signature
from shared.topology import Topology, declare_events_exchange, declare_topology, routing_key_for

ACCEPTED = b'{"status":"accepted"}'
CONFIRM_TIMEOUT_SECONDS = 10.0
EXCHANGE = web.AppKey("exchange", AbstractExchange)


def create_app(
    secret: str, amqp_url: str | None = None, topology_prefix: str = ""
) -> web.Application:
    secrets = (secret,)
    app = web.Application()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_clicksign_signature(body, request.headers.get(SIGNATURE_HEADER), secrets)
        except InvalidSignature:
            return web.Response(status=401)
        if amqp_url is not None:
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            routing_key = routing_key_for(request.headers.get("Event", "sign"))
            await app[EXCHANGE].publish(
                message, routing_key, mandatory=True, timeout=CONFIRM_TIMEOUT_SECONDS
            )
        return web.Response(status=202, body=ACCEPTED, content_type="application/json")

    async def ready(_: web.Request) -> web.Response:
        return web.Response(status=200, text="ready")

    async def broker(app: web.Application) -> AsyncIterator[None]:
        assert amqp_url is not None
        connection = await aio_pika.connect(amqp_url)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        topology = Topology(prefix=topology_prefix)
        await declare_topology(channel, topology)
        app[EXCHANGE] = await declare_events_exchange(channel, topology)
        yield
        await connection.close()

    if amqp_url is not None:
        app.cleanup_ctx.append(broker)
    app.router.add_post("/webhooks/clicksign", receive)
    app.router.add_get("/readyz", ready)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--amqp-url", help="also publish each body, with a publisher confirm")
    parser.add_argument("--topology-prefix", default="", help="ingest's AMQP_TOPOLOGY_PREFIX")
    args = parser.parse_args()
    # The same loop as the services under test (bench.common passes EVENT_LOOP to both).
    loop = new_event_loop(os.environ.get("EVENT_LOOP", "auto"))  # type: ignore[arg-type]
    web.run_app(
        create_app(args.secret, args.amqp_url, args.topology_prefix),
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
        loop=loop,
    )


if __name__ == "__main__":
    main()
