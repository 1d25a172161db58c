"""``python -m sandbox.send_webhook``: post a correctly signed, realistic Clicksign webhook.

For trying a running ingest by hand (``make run`` prints the command). The secret comes from
``--secret`` or ``CLICKSIGN_WEBHOOK_SECRET``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import orjson

from sandbox.clicksign import build_webhook, make_signers, post_webhook


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="http://127.0.0.1:8080/webhooks/clicksign")
    parser.add_argument("--secret", default=os.environ.get("CLICKSIGN_WEBHOOK_SECRET"))
    parser.add_argument("--event", default="sign", help="Clicksign event name (default: sign)")
    parser.add_argument("--document", default=None, help="document key (default: a new one)")
    parser.add_argument("--filename", default="Contrato de Prestação de Serviços.pdf")
    parser.add_argument("--signers", type=int, default=1, help="signers on the document")
    parser.add_argument("--signer", type=int, default=0, help="which signer signs (0-based)")
    return parser.parse_args(argv)


async def send(args: argparse.Namespace) -> int:
    if not args.secret:
        print("no secret: pass --secret or set CLICKSIGN_WEBHOOK_SECRET", file=sys.stderr)
        return 2
    body = build_webhook(
        args.event,
        document_key=args.document,
        filename=args.filename,
        signers=make_signers(max(args.signers, 1)),
        signer_index=args.signer,
    )
    status, answer = await post_webhook(args.url, body, args.secret)
    print(f"document {body['document']['key']}: {args.event} -> HTTP {status}")
    print(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
    return 0 if 200 <= status < 300 else 1


def main() -> None:
    sys.exit(asyncio.run(send(parse_args())))


if __name__ == "__main__":
    main()
