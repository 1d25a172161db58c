"""What ``make run`` keeps between runs, and ``make reset``, which clears it.

``make run`` keeps its state across restarts: the SQLite store (``data/signdeal.db``: the history,
which deal each document got, which contact each e-mail is) and the sandbox's own state
(``data/sandbox-state.json``: the deals and contacts those point at, the Clicksign documents, the
id counter) go together. Keeping both, not starting both fresh, is what a demo needs: a restart in
the middle of one leaves no duplicate deal (the deal a document got is still there to update) and
no stuck event (one cut short is redelivered and finds its deal again).

``make reset`` starts both fresh, and purges make run's queues in RabbitMQ: events waiting in a
retry tier, parked ones, webhooks accepted while crm_writer was down would otherwise come back to
a store and a sandbox that no longer know them. It refuses while make run still runs, and leaves
alone what is not local (a PostgreSQL store, a broker on another machine).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import aiohttp
from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, AMQPError
from aiormq.exceptions import ChannelNotFoundEntity
from yarl import URL

from services.crm_writer.store.sqlite import sqlite_path
from shared.connection_errors import describe_broker_failure
from shared.settings import DEFAULT_AMQP_URL
from shared.topology import Topology

DATA_FOLDER = Path("data")
STORE_FILE = DATA_FOLDER / "signdeal.db"
STORE_URL = f"sqlite:///{STORE_FILE}"
SANDBOX_STATE_FILE = DATA_FOLDER / "sandbox-state.json"
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
CONNECT_SECONDS = 5.0


@dataclass
class ResetReport:
    """What `reset` did (``removed``), what it left and why (``kept``), or why it refused."""

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    refused: str | None = None

    def lines(self) -> list[str]:
        if self.refused is not None:
            return [f"make reset: nothing removed: {self.refused}"]
        lines = [f"removed {what}" for what in self.removed] or ["nothing to remove"]
        return lines + [f"left alone: {what}" for what in self.kept]


async def reset(env: dict[str, str], health_urls: list[str]) -> ResetReport:
    """Remove make run's local data (``env`` is make run's environment); refuse if one of
    ``health_urls`` (make run's services) still answers or a consumer holds its queues."""
    report = ResetReport()
    running = await _answering(health_urls)
    if running is not None:
        report.refused = f"make run still runs ({running} answers): stop it first (Ctrl-C)"
        return report
    await _purge_queues(env, report)
    if report.refused is None:
        _remove_store(env.get("STORE_URL") or STORE_URL, report)
        _remove_file(SANDBOX_STATE_FILE, "the sandbox's deals, contacts and documents", report)
    return report


async def _answering(urls: list[str]) -> str | None:
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for url in urls:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as answer:
                    if answer.status < 500:
                        return url
    return None


async def _purge_queues(env: dict[str, str], report: ResetReport) -> None:
    """Empty make run's queues (the topology under ``AMQP_TOPOLOGY_PREFIX``), when the broker is
    on this machine and nobody consumes from them."""
    url = env.get("AMQP_URL") or DEFAULT_AMQP_URL
    topology = Topology(prefix=env.get("AMQP_TOPOLOGY_PREFIX", ""))
    if URL(url).host not in LOOPBACK_HOSTS:
        report.kept.append(f"RabbitMQ's queues: AMQP_URL is not on this machine ({URL(url).host})")
        return
    try:
        connection = await aio_pika.connect(url, timeout=CONNECT_SECONDS)
    except (*CONNECTION_EXCEPTIONS, TimeoutError, AMQPError) as exc:
        report.kept.append(f"RabbitMQ's queues, not purged: {describe_broker_failure(url, exc)}")
        return
    async with connection:
        counts = {name: await _queue_counts(connection, name) for name in topology.all_queues}
        busy = [name for name, count in counts.items() if count is not None and count[1]]
        if busy:
            report.refused = (
                f"{busy[0]} has a consumer: a crm_writer still runs on make run's queues; stop it "
                "first"
            )
            return
        for name, count in counts.items():
            if count is not None and count[0]:
                channel = await connection.channel()
                queue = await channel.declare_queue(name, passive=True)
                await queue.purge()
                await channel.close()
                report.removed.append(f"{count[0]} message(s) from the queue {name}")


async def _queue_counts(connection: AbstractConnection, name: str) -> tuple[int, int] | None:
    """(messages ready, consumers) of a queue, or None if it does not exist."""
    # A passive declare of a missing queue closes its channel, so each gets its own.
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(name, passive=True)
    except ChannelNotFoundEntity:
        return None
    finally:
        if not channel.is_closed:
            await channel.close()
    result = queue.declaration_result
    return int(result.message_count or 0), int(result.consumer_count or 0)


def _remove_store(store_url: str, report: ResetReport) -> None:
    if not store_url.startswith("sqlite:///"):
        report.kept.append(
            "the store: STORE_URL is a PostgreSQL database, not local data (drop its tables "
            "yourself if you mean to)"
        )
        return
    path = sqlite_path(store_url)
    _remove_file(path, "the store: history, documents' deals, contacts", report)
    for suffix in SQLITE_COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def _remove_file(path: Path, what: str, report: ResetReport) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    report.removed.append(f"{path} ({what})")
