"""`seqctl events import`: a provider's (or seqctl's own JSONL) events, applied once each.

The whole file is parsed first (a bad line refuses the file, naming it, with nothing
applied), then applied in one transaction. Each event is matched to the email it
concerns by Message-ID, else to the last email seqctl sent to its recipient by then,
and applied like any other event: suppressions, exits, branches and stats. Every event
carries a key (the provider's event id, else a digest of the event), so importing the
same file again adds nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from seqctl.delivery.tracking import automated_reason
from seqctl.files import read_input
from seqctl.inbound.providers import ProviderEvent, parse_file
from seqctl.services.catalog import Catalog
from seqctl.services.events import apply_event
from seqctl.store import contacts as contact_store
from seqctl.store import sends
from seqctl.store.db import Database, Tx
from seqctl.store.records import Contact, Message

MAX_EVENTS_BYTES = 1024 * 1024 * 1024  # one export file (README "Limits")


@dataclass
class ImportReport:
    events: int = 0  # events in the file that mean something to seqctl
    recorded: int = 0
    already_imported: int = 0
    ignored: int = 0  # provider events seqctl has no use for (delivered, processed …)
    unmatched: int = 0  # no email seqctl sent, no contact
    automated: int = 0
    suppressed: int = 0
    exited: int = 0

    def as_json(self) -> dict[str, int]:
        return asdict(self)


def import_events(db: Database, path: str, fmt: str, *, now: datetime) -> ImportReport:
    parsed = parse_file(read_input(path, max_bytes=MAX_EVENTS_BYTES), fmt, name=path)
    report = ImportReport(events=len(parsed.events), ignored=parsed.skipped)
    catalog = Catalog.load(db)
    with db.write() as tx:
        for event in parsed.events:
            found = _match(tx, event, link_by_recipient=fmt != "jsonl")
            if found is None:
                report.unmatched += 1
                continue
            contact, message = found
            automated = event.automated
            if automated is None and event.type in ("opened", "clicked"):
                since = (event.at - message.sent_at).total_seconds() if message and message.sent_at else None
                automated = automated_reason(method="GET", user_agent=event.user_agent, seconds_since_sent=since)
            applied = apply_event(
                tx, catalog, contact, event.type, message_id=message.message_id if message else None,
                at=event.at, now=now, detail=event.detail, reason=event.reason, source=f"import:{fmt}",
                dedupe_key=event.dedupe_key,
                url=event.url, automated=automated,
            )  # fmt: skip
            if not applied.recorded:
                report.already_imported += 1
                continue
            report.recorded += 1
            report.automated += automated is not None
            report.suppressed += applied.suppressed
            report.exited += len(applied.exited)
    return report


def _match(tx: Tx, event: ProviderEvent, *, link_by_recipient: bool) -> tuple[Contact, Message | None] | None:
    """The contact and the message the event concerns. A provider that rewrote the
    Message-ID (or names none, as SendGrid's opens) is matched through the recipient."""
    message = sends.by_message_id(tx, event.message_id) if event.message_id else None
    if message is None and event.message_id and not link_by_recipient:
        return None  # seqctl's own JSONL named a message seqctl did not send
    email = message.recipient if message else event.email
    if not email:
        return None
    contact = contact_store.by_email(tx, email)
    if contact is None:
        return None
    if message is None and link_by_recipient:
        message = sends.latest_sent_to(tx, contact.email, event.at)
        if message is None:
            return None  # not about anything seqctl sent
    return contact, message
