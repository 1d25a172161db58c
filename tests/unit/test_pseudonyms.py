"""Stand-ins for e-mails in log lines: stable per person, without the address."""

from __future__ import annotations

import hashlib

from shared.pseudonyms import email_ref, lock_label


def test_one_person_one_ref_whatever_the_case_and_spaces() -> None:
    assert email_ref(" Ana.Souza@Example.com ") == email_ref("ana.souza@example.com")
    assert email_ref("ana.souza@example.com") != email_ref("bruno@example.com")


def test_the_ref_is_the_sha256_prefix_an_operator_can_compute() -> None:
    expected = hashlib.sha256(b"ana.souza@example.com").hexdigest()[:12]
    assert email_ref("ana.souza@example.com") == expected


def test_contact_locks_lose_the_e_mail_and_document_locks_stay() -> None:
    assert lock_label("contact:ana@example.com") == f"contact:{email_ref('ana@example.com')}"
    assert lock_label("document:3f1c2a4e") == "document:3f1c2a4e"
    assert lock_label("signdeal.schema") == "signdeal.schema"


def test_a_contact_lock_hides_the_whole_e_mail_even_one_holding_a_colon() -> None:
    # A quoted local part may hold a colon: no part of the address is left in the label.
    email = '"ana:souza"@example.com'

    assert lock_label(f"contact:{email}") == f"contact:{email_ref(email)}"
