"""The framework's ceiling: an aiohttp app that reads the body, checks the HMAC and answers 202.

``python -m bench.baseline_app --port N --secret S`` — same signature check as ingest
(`shared.signature`), no parsing, no broker, no logging.
"""

from __future__ import annotations

import argparse
import os

from aiohttp import web

from shared.eventloop import new_event_loop
from shared.signature import SIGNATURE_HEADER, InvalidSignature, verify_clicksign_signature

ACCEPTED = b'{"status":"accepted"}'


def create_app(secret: str) -> web.Application:
    secrets = (secret,)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_clicksign_signature(body, request.headers.get(SIGNATURE_HEADER), secrets)
        except InvalidSignature:
            return web.Response(status=401)
        return web.Response(status=202, body=ACCEPTED, content_type="application/json")

    async def ready(_: web.Request) -> web.Response:
        return web.Response(status=200, text="ready")

    app = web.Application()
    app.router.add_post("/webhooks/clicksign", receive)
    app.router.add_get("/readyz", ready)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    # The same loop as the services under test (bench.common passes EVENT_LOOP to both).
    loop = new_event_loop(os.environ.get("EVENT_LOOP", "auto"))  # type: ignore[arg-type]
    web.run_app(
        create_app(args.secret),
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
        loop=loop,
    )


if __name__ == "__main__":
    main()
