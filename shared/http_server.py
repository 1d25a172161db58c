"""How both services' HTTP servers treat clients: bounded headers, idle and slow connections
closed within seconds, no version banner.

aiohttp's defaults suit a public web server behind nothing: 128 headers of up to 8 KiB each, a
keep-alive of 75 s that is also the only limit on a client that trickles its headers, and a
``Server: Python/3.11 aiohttp/…`` header that tells a scanner which advisories to try. The
request body of a webhook has its own deadline in ingest's view.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web, web_response

# A webhook from Clicksign carries about ten headers; a proxy in front adds a few.
MAX_HEADERS = 64
MAX_HEADER_LINE_BYTES = 8190
SERVER_NAME = "signdeal"
LINGERING_SECONDS = 1.0


def server_options(keepalive_timeout_seconds: float) -> dict[str, Any]:
    """Keyword arguments for ``web.run_app`` / ``web.AppRunner`` / aiohttp's ``TestServer``.

    The keep-alive timeout also closes a connection that never finishes its request headers
    (aiohttp arms it when the connection opens), so it bounds header tricklers too; total header
    bytes stay under ``MAX_HEADERS * MAX_HEADER_LINE_BYTES``.
    """
    return {
        "keepalive_timeout": keepalive_timeout_seconds,
        "max_headers": MAX_HEADERS,
        "max_field_size": MAX_HEADER_LINE_BYTES,
        "max_line_size": MAX_HEADER_LINE_BYTES,
        # After an early answer (408, 413, 503) aiohttp reads and drops what the client still
        # sends, so the client can read the answer: 10 s by default, one is enough.
        "lingering_time": LINGERING_SECONDS,
    }


def hide_server_banner(app: web.Application) -> None:
    """Answer ``Server: signdeal`` instead of aiohttp's name and versions.

    The app's answers get it through ``on_response_prepare``. The answers aiohttp's protocol
    makes itself (a 400 for a request its parser refuses, before any app sees it) skip that
    signal and take the module's default instead: that default is replaced too, for this
    process's server answers only (the client's ``User-Agent`` is another binding).
    """
    app.on_response_prepare.append(_name_the_server)
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]  # not re-exported


async def _name_the_server(_: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_NAME
