"""Stand-ins for personal data in log lines: enough to correlate lines, not the data itself.

Log lines at INFO and WARNING carry ids (deal, contact, event, document), never a signer's name,
e-mail, CPF or phone (docs/privacy.md). Where two lines about one person must be matched without
an RD id (an e-mail RD knows twice, a lock held on an e-mail), they carry `email_ref`.
"""

from __future__ import annotations

import hashlib

EMAIL_REF_LENGTH = 12


def email_ref(email: str) -> str:
    """The first 12 hex digits of the SHA-256 of the e-mail, trimmed and lower-cased.

    Pseudonymous, not anonymous: whoever holds a list of e-mails can compute the same values and
    match them (so a ref is still personal data, kept out of anything public); the log line
    itself no longer shows the address. ``printf %s ana@example.com | sha256sum | cut -c1-12``
    finds one person's lines.
    """
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return digest[:EMAIL_REF_LENGTH]


def lock_label(name: str) -> str:
    """A lock name fit for a log line or an error: ``contact:<e-mail>`` becomes
    ``contact:<email_ref>``; other names (``document:<key>``) hold no personal data."""
    kind, separator, subject = name.partition(":")
    if separator and "@" in subject:
        return f"{kind}:{email_ref(subject)}"
    return name
