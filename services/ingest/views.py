"""HTTP handlers: thin shells around signature verification, parsing and the publisher."""

from __future__ import annotations

import time

from aiohttp import web

from services.ingest.body import BodyAbandoned, BodyGateFull, BodyTooSlow
from services.ingest.keys import (
    BODY_GATE,
    BROKER,
    CORRELATION_ID,
    OBSERVER,
    PUBLISHER,
    REQUEST_STARTED,
    SETTINGS,
    WEBHOOK_OUTCOME,
)
from services.ingest.observer import WebhookOutcome
from shared import tracing
from shared.events import (
    ClicksignWebhook,
    InvalidClicksignPayload,
    SignedDocumentEvent,
    parse_clicksign_webhook,
    read_clicksign_webhook,
)
from shared.logging import bind_event_context, get_logger
from shared.publishing import PublishFailed
from shared.signature import SIGNATURE_HEADER, InvalidSignature, verify_clicksign_signature
from shared.topology import routing_key_for

EVENT_HEADER = "Event"
_CLOSE_AFTER = frozenset({WebhookOutcome.TOO_LARGE, WebhookOutcome.TOO_SLOW, WebhookOutcome.BUSY})

log = get_logger()


async def receive_clicksign_webhook(request: web.Request) -> web.Response:
    """``POST /webhooks/clicksign``: answer 2xx only for what was published or may be dropped.

    Whether signdeal acts on an event is decided from its name before anything else is
    required of the body: Clicksign counts every non-2xx as a failed delivery and sends events
    that carry no document at all (``acceptance_term_*``)."""
    try:
        webhook = await _verified_webhook(request)
        if webhook.event_name not in request.app[SETTINGS].clicksign_trigger_events:
            return _ignore(request, webhook)
        event = parse_clicksign_webhook(webhook, correlation_id=request[CORRELATION_ID])
    except web.HTTPRequestEntityTooLarge:
        return _reject(request, 413, WebhookOutcome.TOO_LARGE, "body over the size limit")
    except BodyTooSlow:
        return _reject(request, 408, WebhookOutcome.TOO_SLOW, "body not received in time")
    except BodyGateFull:
        return _reject(request, 503, WebhookOutcome.BUSY, "too many webhooks being read; retry")
    except BodyAbandoned:
        return _abandoned(request)
    except InvalidSignature as exc:
        return _reject(request, 401, WebhookOutcome.BAD_SIGNATURE, str(exc))
    except InvalidClicksignPayload as exc:
        return _reject(request, 400, WebhookOutcome.BAD_PAYLOAD, str(exc))

    context = event.log_context()
    tracing.annotate_current(context)
    with bind_event_context(context):
        _log_received(request, webhook)
        return await _publish(request, event)


async def healthz(_: web.Request) -> web.Response:
    """The process is alive."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready only while the broker connection is actually up."""
    if request.app[BROKER].is_connected:
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "not ready", "broker": "disconnected"}, status=503)


async def _verified_webhook(request: web.Request) -> ClicksignWebhook:
    settings = request.app[SETTINGS]
    limit = settings.ingest_max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    # The signature covers the bytes exactly as received: verify before any parsing.
    body = await request.app[BODY_GATE].read(request)
    signature = request.headers.get(SIGNATURE_HEADER)
    verify_clicksign_signature(body, signature, settings.webhook_secrets)
    return read_clicksign_webhook(body, request.headers.get(EVENT_HEADER))


def _ignore(request: web.Request, webhook: ClicksignWebhook) -> web.Response:
    """A well-signed event signdeal does not act on: 200, so Clicksign does not send it again."""
    # document_key is null for events about no document (acceptance_term_*): every line about
    # an event carries the three fields, so a jq filter on any of them never skips a line.
    context = {
        "event_id": webhook.event_id,
        "correlation_id": request[CORRELATION_ID],
        "document_key": webhook.document_key,
    }
    with bind_event_context(context):
        _log_received(request, webhook)
        _record(request, WebhookOutcome.IGNORED, webhook.event_name)
        log.info(
            "webhook.ignored",
            event_name=webhook.event_name,
            remote=request.remote,
            status=200,
            duration_ms=_elapsed_ms(request),
        )
    return web.json_response({"status": "ignored"}, status=200)


async def _publish(request: web.Request, event: SignedDocumentEvent) -> web.Response:
    started = time.perf_counter()
    try:
        await request.app[PUBLISHER].publish(event)
    except PublishFailed as exc:
        _record(request, WebhookOutcome.PUBLISH_FAILED, event.event_name)
        log.error(
            "event.publish_failed",
            event_name=event.event_name,
            remote=request.remote,
            reason=exc.reason,
            status=503,
            duration_ms=_elapsed_ms(request),
        )
        return web.json_response({"error": "event not accepted, retry later"}, status=503)
    seconds = time.perf_counter() - started
    _record(request, WebhookOutcome.PUBLISHED, event.event_name, seconds)
    log.info(
        "event.published",
        event_name=event.event_name,
        remote=request.remote,
        routing_key=routing_key_for(event.event_name),
        confirm_ms=round(seconds * 1000, 2),
        status=202,
        duration_ms=_elapsed_ms(request),
    )
    return web.json_response({"event_id": event.event_id}, status=202)


def _log_received(request: web.Request, webhook: ClicksignWebhook) -> None:
    # Clicksign's own example disagrees with itself; the body's event name is the one we use.
    if webhook.header_mismatch is not None:
        log.warning(
            "webhook.received",
            event_name=webhook.event_name,
            remote=request.remote,
            header_event=webhook.header_mismatch,
            header_mismatch=True,
        )
    else:
        # At INFO the answer's own line (event.published, webhook.ignored, …) tells the story
        # with the same fields: one line per webhook is a visible share of ingest's CPU.
        log.debug("webhook.received", event_name=webhook.event_name, remote=request.remote)


def _reject(
    request: web.Request, status: int, outcome: WebhookOutcome, reason: str
) -> web.Response:
    _record(request, outcome, None)
    log.warning(
        "webhook.rejected",
        status=status,
        outcome=outcome,
        reason=reason,
        remote=request.remote,
        duration_ms=_elapsed_ms(request),
    )
    response = web.json_response({"error": reason}, status=status)
    if outcome in _CLOSE_AFTER:
        # The rest of the body is not wanted: close instead of reading it to keep the connection.
        response.force_close()
    if outcome is WebhookOutcome.BUSY:
        response.headers["Retry-After"] = "1"
    return response


def _abandoned(request: web.Request) -> web.Response:
    """The client went away before its body arrived: nobody is left to answer."""
    _record(request, WebhookOutcome.ABANDONED, None)
    log.info("webhook.abandoned", remote=request.remote, duration_ms=_elapsed_ms(request))
    response = web.Response(status=400)
    response.force_close()
    return response


def _elapsed_ms(request: web.Request) -> float | None:
    started = request.get(REQUEST_STARTED)
    return None if started is None else round((time.perf_counter() - started) * 1000, 2)


def _record(
    request: web.Request,
    outcome: WebhookOutcome,
    event_name: str | None,
    publish_seconds: float | None = None,
) -> None:
    request[WEBHOOK_OUTCOME] = outcome
    request.app[OBSERVER].webhook_handled(outcome, event_name, publish_seconds)
