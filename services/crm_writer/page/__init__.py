"""The history page: crm_writer's automation history for people, at ``GET /`` (Pluga's
*Histórico → Detalhes*).

- ``/``: every event, newest first, with status chips and counts, filters (status, document key
  or file name, signer e-mail, days) and pages;
- ``/event/{id}``: one event: what came from Clicksign, what signdeal derives from it, every
  request to RD Station and Clicksign with its answer and timing, failures, note, replays, and
  a Replay button for a parked event;
- ``/document/{key}``: every event of one document, in order, and its deal.

Behind the history's access rule (`services.crm_writer.access`): a browser signs in at
``/login`` with ``CRM_WRITER_API_TOKEN`` (`session`); without a token, loopback clients only,
with no login. Forms are protected by `protection`. Server-rendered (aiohttp-jinja2, autoescape
on), no JavaScript.
"""

from services.crm_writer.page.routes import setup_history_page

__all__ = ["setup_history_page"]
