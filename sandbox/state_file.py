"""The sandbox's state kept in a file across restarts (``--state-file``; ``make run`` keeps it in
``data/sandbox-state.json``): RD's account — users, pipelines, custom fields, contacts, deals and
where the id factory is — and the documents of the Clicksign API. Fault switches, the rate limit's
window and the request log are not kept: they belong to one run.

Why: crm_writer's store remembers which deal each document got. A sandbox that started empty
after a restart would give the same ids again, to other deals, while the store still pointed at
the old ones. Kept here, ids go on from where they were and the deals the store knows exist.

Every request that may change something (any method but GET, HEAD, OPTIONS) has the state written
before its answer leaves, so what a client saw done survives a crash too. The file is replaced
atomically (a temporary file in the same folder, fsync, rename): a crash mid-write leaves the old
one. A file that cannot be read back (damaged, another seed, another format) is moved aside to
``<name>.unreadable`` and the sandbox starts fresh, saying so.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import TypeAdapter, ValidationError

from sandbox.clicksign_api import CLICKSIGN_SANDBOX_KEY
from sandbox.clicksign_api.state import SandboxDocument
from sandbox.rdstation.context import SANDBOX_KEY
from sandbox.rdstation.state import AccountSnapshot
from shared.logging import get_logger

FORMAT_VERSION = 1
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = get_logger()


@dataclass
class SavedState:
    version: int
    account: AccountSnapshot
    clicksign_documents: list[SandboxDocument]


_SAVED = TypeAdapter(SavedState)


class UnreadableState(Exception):
    """The file exists but does not hold a state this sandbox can take back."""


def encode_state(saved: SavedState) -> bytes:
    return orjson.dumps(_SAVED.dump_python(saved, mode="json"))


def decode_state(raw: bytes) -> SavedState:
    try:
        saved = _SAVED.validate_python(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise UnreadableState(f"not a sandbox state: {str(exc).splitlines()[0]}") from None
    if saved.version != FORMAT_VERSION:
        raise UnreadableState(f"format {saved.version}, this sandbox reads {FORMAT_VERSION}")
    return saved


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class StateFile:
    """Reads the app's sandbox state from ``path`` and writes it back."""

    def __init__(self, path: Path, app: web.Application) -> None:
        self.path = path
        self.app = app
        # What the file holds, as far as this process knows: a request that changed nothing
        # (a refused token, a control call) is not written again.
        self._written: bytes | None = None

    def load(self) -> dict[str, Any] | None:
        """Take back the saved state; what was restored (counts), or None without a file."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        saved = decode_state(raw)
        self._written = raw
        try:
            self.app[SANDBOX_KEY].state.restore(saved.account)
        except ValueError as exc:
            raise UnreadableState(str(exc)) from None
        self.app[CLICKSIGN_SANDBOX_KEY].state.restore(saved.clicksign_documents)
        return {
            "deals": len(saved.account.deals),
            "contacts": len(saved.account.contacts),
            "clicksign_documents": len(saved.clicksign_documents),
        }

    def save(self) -> None:
        saved = SavedState(
            version=FORMAT_VERSION,
            account=self.app[SANDBOX_KEY].state.snapshot(),
            clicksign_documents=self.app[CLICKSIGN_SANDBOX_KEY].state.documents,
        )
        encoded = encode_state(saved)
        if encoded != self._written:
            write_atomically(self.path, encoded)
            self._written = encoded

    def set_aside(self) -> Path:
        aside = self.path.with_name(self.path.name + ".unreadable")
        os.replace(self.path, aside)
        return aside


def keep_state(app: web.Application, path: Path) -> None:
    """Restore the app's sandbox from ``path`` now, and keep ``path`` up to date from now on."""
    state_file = StateFile(path, app)
    try:
        restored = state_file.load()
    except UnreadableState as exc:
        aside = state_file.set_aside()
        log.warning(
            "rd_sandbox.state_unreadable", path=str(path), error=str(exc), kept_as=str(aside)
        )
    else:
        if restored is not None:
            log.info("rd_sandbox.state_restored", path=str(path), **restored)

    @web.middleware
    async def save_changes(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            if request.method not in READ_ONLY_METHODS:
                state_file.save()

    async def save_at_exit(_: web.Application) -> None:
        state_file.save()

    app.middlewares.insert(0, save_changes)
    app.on_cleanup.append(save_at_exit)
