"""`seqctl contacts erase`: forget people on request (GDPR Art. 17), keeping only a keyed
digest of each address on the suppression list so no sequence mails it again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seqctl import settings
from seqctl.erasure import address_digest
from seqctl.errors import InvalidInput
from seqctl.services.contacts import normalise_email
from seqctl.services.interventions import cancel_in
from seqctl.states import OPEN
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store import erasure as erasure_store
from seqctl.store.db import Database


def erase(db: Database, addresses: list[str], *, now: datetime) -> list[dict[str, Any]]:
    """Erase each address, all in one transaction; what was found for each."""
    key = settings.tracking_secret()
    if key is None:
        raise InvalidInput(
            f"{settings.SECRET_VARIABLE} is not set: an erased address is kept only as a digest keyed with it "
            "(set it, the same on every host, and keep it)"
        )
    emails = [normalise_email(address) for address in addresses]
    done = []
    with db.write() as tx:
        for email in dict.fromkeys(emails):
            contact = contact_store.by_email(tx, email)
            open_ones = enrollment_store.find(tx, contact_id=contact.id, statuses=OPEN) if contact else []
            ended = sum(cancel_in(tx, e, now, None) for e in open_ones)
            erasure_store.erase_contact(tx, contact.id if contact else None, email)
            erasure_store.keep_suppressed(tx, email, address_digest(email, key), now)
            done.append({"email": email, "contact": contact is not None, "enrollments_ended": ended})
    return done
