"""The URL map: RD's v1 resources under ``/api/v1`` and the control API under ``/__sandbox``."""

from __future__ import annotations

from aiohttp import web

from sandbox.rdstation import views
from sandbox.rdstation.control import control_routes
from sandbox.rdstation.faults import API_PREFIX


def api_routes() -> list[web.RouteDef]:
    v = API_PREFIX
    return [
        web.get(f"{v}/token/check", views.check_token),
        web.get(f"{v}/users", views.list_users),
        web.get(f"{v}/users/{{user_id}}", views.get_user),
        web.get(f"{v}/deal_pipelines", views.list_pipelines),
        web.get(f"{v}/deal_pipelines/{{pipeline_id}}", views.get_pipeline),
        web.get(f"{v}/deal_stages", views.list_stages),
        web.get(f"{v}/deal_stages/{{stage_id}}", views.get_stage),
        web.get(f"{v}/custom_fields", views.list_custom_fields),
        web.get(f"{v}/custom_fields/{{custom_field_id}}", views.get_custom_field),
        web.get(f"{v}/contacts", views.list_contacts),
        web.post(f"{v}/contacts", views.create_contact),
        web.get(f"{v}/contacts/{{contact_id}}", views.get_contact),
        web.put(f"{v}/contacts/{{contact_id}}", views.update_contact),
        web.get(f"{v}/deals", views.list_deals),
        web.post(f"{v}/deals", views.create_deal),
        web.get(f"{v}/deals/{{deal_id}}", views.get_deal),
        web.put(f"{v}/deals/{{deal_id}}", views.update_deal),
        web.get(f"{v}/deals/{{deal_id}}/contacts", views.list_deal_contacts),
    ]


def add_routes(app: web.Application) -> None:
    app.router.add_routes(api_routes())
    app.router.add_routes(control_routes())
