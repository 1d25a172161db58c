"""At INFO, crm_writer's log lines carry ids, never a signer's name, e-mail, CPF or phone.

The pipeline runs through the paths whose lines used to carry them: a deal created (its title
holds the signer's name), a deal recovered after a crash and a recovery that found nothing (the
remembered title), an e-mail RD knows twice, and a contact lock that times out (its name held
the e-mail, and so did the error that reaches WARNING lines and the history).
"""

from __future__ import annotations

import io
import uuid

import orjson
import pytest

from sandbox.clicksign import SampleSigner, make_signers
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.pipeline import DealPipeline
from services.crm_writer.rdstation import RdStationClient, RdStationUnavailable
from services.crm_writer.store import LockTimeout, Store
from shared.pseudonyms import email_ref
from tests.clicksign_events import clicksign_event


def personal_values(signers: list[SampleSigner]) -> list[str]:
    values = []
    for signer in signers:
        values += [signer.name, signer.email, signer.email.lower(), signer.email.upper()]
        values += [value for value in (signer.documentation, signer.phone_number) if value]
        if signer.documentation:
            values.append("".join(ch for ch in signer.documentation if ch.isdigit()))
    return values


async def test_no_signer_data_in_any_info_line(
    pipeline: DealPipeline,
    rd: SandboxServer,
    rd_client: RdStationClient,
    store: Store,
    crm_writer_log: io.StringIO,
) -> None:
    signers = make_signers(4, seed=7)
    ana, bruno, carla, davi = signers
    # A deal created, two signers linked.
    await pipeline.process(clicksign_event("sign", str(uuid.uuid4()), [ana, bruno]), [])
    # RD knows Carla's e-mail twice.
    for name in (carla.name, f"{carla.name} (2)"):
        await rd_client.create_contact({"name": name, "emails": [{"email": carla.email}]})
    await pipeline.process(clicksign_event("sign", str(uuid.uuid4()), [carla]), [])
    # RD creates the deal, the answer is lost, the next attempt recovers it.
    recovered = clicksign_event("sign", str(uuid.uuid4()), [davi])
    rd.faults.hang_next(1, seconds=10, method="POST", path_prefix="/deals", completes=True)
    with pytest.raises(RdStationUnavailable):
        await pipeline.process(recovered, [])
    await pipeline.process(recovered, [])
    # The create never reached RD: the recovery finds nothing and creates it.
    lost = clicksign_event("sign", str(uuid.uuid4()), [davi])
    rd.faults.hang_next(1, seconds=10, method="POST", path_prefix="/deals", completes=False)
    with pytest.raises(RdStationUnavailable):
        await pipeline.process(lost, [])
    await pipeline.process(lost, [])
    # A contact lock held elsewhere: the timeout's message.
    async with store.lock(f"contact:{ana.email.lower()}"):
        with pytest.raises(LockTimeout) as timed_out:
            async with store.lock(f"contact:{ana.email.lower()}", timeout=0.05):
                pass

    # The in-process RD sandbox logs its own requests (it stands in for RD): not crm_writer's.
    lines = [
        line
        for line in crm_writer_log.getvalue().splitlines()
        if not orjson.loads(line)["event"].startswith("rd_sandbox.")
    ]
    events = {orjson.loads(line)["event"] for line in lines}
    output = "\n".join([*lines, str(timed_out.value)])
    assert {
        "deal.created",
        "contact.created",
        "contact.ambiguous",
        "deal.recovered",
        "deal.recovery_found_nothing",
    } <= events
    leaked = [value for value in personal_values(signers) if value in output]
    assert leaked == []
    assert email_ref(carla.email) in output
    assert email_ref(ana.email) in str(timed_out.value)
