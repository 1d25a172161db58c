"""The environment a test starts from: none of the machine's signdeal variables leak in."""

from __future__ import annotations

import os

import pytest

from services.crm_writer.settings import CrmWriterSettings
from services.ingest.settings import IngestSettings

# Every variable either service reads, and any a later version may add under these prefixes.
SIGNDEAL_VARIABLES = frozenset(
    name.upper() for name in (*CrmWriterSettings.model_fields, *IngestSettings.model_fields)
)
SIGNDEAL_PREFIXES = ("RDSTATION_", "CRM_WRITER_", "INGEST_")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No signdeal variable set; set the test's own on the returned monkeypatch."""
    for name in list(os.environ):
        if name in SIGNDEAL_VARIABLES or name.startswith(SIGNDEAL_PREFIXES):
            monkeypatch.delenv(name)
    return monkeypatch
