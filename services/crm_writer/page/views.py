"""The history's pages: the list, one event, one document. Each reads the request, asks the
store and renders a template; what to show is decided in `filters` and `event_view`."""

from __future__ import annotations

from aiohttp import web

from services.crm_writer.keys import RUNTIME, STORE
from services.crm_writer.page import event_view, filters
from services.crm_writer.page.rendering import render, viewer_of
from services.crm_writer.page.replaying import broker_reachable
from services.crm_writer.store import EventStatus
from services.crm_writer.store.base import MAX_LIST_LIMIT


async def event_list(request: web.Request) -> web.Response:
    wanted = filters.read_filters(request.query)
    viewer = await viewer_of(request)
    query = wanted.query(viewer.zone)
    store = request.app[STORE]
    counts = await store.count_by_status(query.any_status())
    pages = filters.page_count(filters.chip_count(counts, wanted.chip))
    page = min(wanted.page, pages)
    records = await store.search_events(
        query, limit=filters.PAGE_SIZE, offset=(page - 1) * filters.PAGE_SIZE
    )
    chips = [(None, counts.total)] + [
        (chip, filters.chip_count(counts, chip)) for chip in filters.CHIPS
    ]
    return await render(
        request,
        "list.html",
        {
            "filters": wanted,
            "chips": chips,
            "rows": [event_view.event_row(record) for record in records],
            "page": page,
            "pages": pages,
            "parked": counts.of(EventStatus.PARKED),
            "broker_up": broker_reachable(request.app),
            "refresh_seconds": filters.REFRESH_SECONDS,
        },
        viewer=viewer,
    )


async def event_details(request: web.Request) -> web.Response:
    event_id = request.match_info["event_id"]
    store = request.app[STORE]
    record = await store.get_event(event_id)
    if record is None:
        return await render(
            request,
            "not_found.html",
            {"message": "details.not_found", "key": event_id},
            status=404,
        )
    deal_settings = request.app[RUNTIME].deal_settings
    siblings = await store.list_events(document_key=record.document_key, limit=MAX_LIST_LIMIT)
    calls = event_view.call_views(record.rd_calls)
    return await render(
        request,
        "event.html",
        {
            "record": record,
            "chips": event_view.chips_of(record),
            "payload": record.payload,
            "people": event_view.people(record.payload),
            "document_name": event_view.document_name(record.payload),
            "raw_json": event_view.pretty_json(record.payload.get("raw")),
            "event_json": event_view.pretty_json(
                {key: value for key, value in record.payload.items() if key != "raw"}
            ),
            "removed": event_view.removed_fields(record.payload),
            "derivation": None
            if deal_settings is None
            else event_view.derive(record.payload, deal_settings),
            "calls": calls,
            "failures": [call for call in calls if call.failed],
            "siblings": [
                event_view.event_row(other) for other in siblings if other.event_id != event_id
            ],
            "broker_up": broker_reachable(request.app),
        },
    )


async def document_events(request: web.Request) -> web.Response:
    document_key = request.match_info["document_key"]
    store = request.app[STORE]
    records = await store.list_events(document_key=document_key, limit=MAX_LIST_LIMIT)
    document = await store.get_document(document_key)
    if not records and document is None:
        return await render(
            request,
            "not_found.html",
            {"message": "document.not_found", "key": document_key},
            status=404,
        )
    records.sort(key=lambda record: (record.received_at, record.event_id))
    return await render(
        request,
        "document.html",
        {
            "document_key": document_key,
            "document": document,
            "document_name": next(
                (name for r in records if (name := event_view.document_name(r.payload))), None
            ),
            "rows": [event_view.event_row(record) for record in records],
        },
    )
