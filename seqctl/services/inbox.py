"""`seqctl inbox sync`: read what came back and turn it into events, exits and pauses.

Each message is classified (`inbound.classify`), matched to a contact (the Message-IDs it
answers or reports on, against the messages seqctl sent; else the bounced address or
the sender among contacts with an open enrollment) and applied in one transaction with
the record of having read it, so a sync is idempotent and a crash mid-sync redoes
nothing twice. A message that matches nothing is recorded too, never dropped.

Messages come from a Maildir (`sync_maildir`) or from each mailbox's IMAP folder
(`sync_imap`); either way a message is read once: by where it lies (file name, or
UIDVALIDITY and UID) and by its Message-ID within the mailbox, so a message copied
again, or a folder rebuilt under a new UIDVALIDITY, adds nothing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from seqctl import settings
from seqctl.delivery.message import is_test_message_id
from seqctl.delivery.pool import tls_policy
from seqctl.errors import AuthorisationExpired, InvalidInput
from seqctl.inbound.classify import (
    AUTO_REPLY,
    BOUNCE,
    COMPLAINT,
    DELIVERY_REPORT,
    UNCLASSIFIED,
    UNSUBSCRIBE,
    Classified,
    classify,
    resume_after,
    unclassified,
)  # fmt: skip
from seqctl.inbound.imap import FETCH_CHUNK, ImapError, ImapFolder, ImapTarget, parse_imap_url
from seqctl.services.catalog import Catalog
from seqctl.services.events import apply_event
from seqctl.services.mailboxes import hold_for_authorisation
from seqctl.services.oauth_tokens import bearer_source, is_authorisation_reason
from seqctl.services.progress import calendar_of
from seqctl.services.tick_report import Outcome
from seqctl.states import RUNNABLE, EventType
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store import inbound as inbound_store
from seqctl.store import sends
from seqctl.store.db import Database, Tx
from seqctl.store.records import Contact

EVENT_OF = {
    "reply": "replied", AUTO_REPLY: "auto_replied", BOUNCE: "bounced", UNSUBSCRIBE: "unsubscribed",
    COMPLAINT: "complained",
}  # fmt: skip
DEFAULT_AWAY_DAYS = 3


@dataclass
class SyncReport:
    read: int = 0
    skipped: int = 0  # read by an earlier sync
    kinds: dict[str, int] = field(default_factory=dict)
    unmatched: int = 0
    exited: int = 0
    paused: int = 0
    errors: list[str] = field(default_factory=list)  # mailboxes that could not be read

    def count(self, kind: str) -> None:
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def outcome(self) -> Outcome:
        line = f"read {self.read}, exited {self.exited}, paused {self.paused}, unmatched {self.unmatched}"
        return Outcome(not self.errors, line + "".join(f"; {e}" for e in self.errors[:3]))


MAX_AWAY_DAYS = 60


def check_away_days(away_days: int) -> None:
    """How long an out-of-office without a return date pauses: 0 to MAX_AWAY_DAYS days."""
    if not 0 <= away_days <= MAX_AWAY_DAYS:
        raise InvalidInput(f"--away-days is between 0 and {MAX_AWAY_DAYS}")


def sync_maildir(
    db: Database, folder: str, *, mailbox_key: str | None, now: datetime, away_days: int = DEFAULT_AWAY_DAYS
) -> SyncReport:
    """Every message in the Maildir's new/ and cur/ not read before."""
    check_away_days(away_days)
    root = Path(folder)
    if not (root / "new").is_dir() and not (root / "cur").is_dir():
        raise InvalidInput(f"{folder}: not a Maildir (no new/ or cur/ folder)")
    files: dict[str, Path] = {}
    for sub in ("new", "cur"):
        with contextlib.suppress(FileNotFoundError):
            for path in (root / sub).iterdir():
                # A reader renames new/x to cur/x:2,S; the part before ':' stays the same.
                files[f"maildir:{root.resolve()}:{path.name.split(':', 1)[0]}"] = path
    report = SyncReport()
    catalog = Catalog.load(db)
    with db.read() as tx:
        seen = inbound_store.known(tx, list(files))
    report.skipped = len(seen)
    with db.holding():
        for key in sorted(set(files) - seen):
            try:
                raw = files[key].read_bytes()
            except FileNotFoundError:  # taken away meanwhile
                continue
            apply_message(db, catalog, raw, source_key=key, mailbox_key=mailbox_key, now=now,
                          away_days=away_days, report=report)  # fmt: skip
    return report


def sync_imap(
    db: Database, *, mailbox_key: str | None, now: datetime, away_days: int = DEFAULT_AWAY_DAYS
) -> SyncReport:
    """Every mailbox with `imap:` (or the one named): the messages above the last UID read.

    A mailbox that cannot be read (its variable unset, the server down, the login refused)
    is reported in `errors` and the others are still read."""
    check_away_days(away_days)
    catalog = Catalog.load(db)
    if mailbox_key is not None:
        if mailbox_key not in catalog.mailboxes:
            raise InvalidInput(f"no mailbox {mailbox_key!r} (known: {', '.join(sorted(catalog.mailboxes)) or 'none'})")
        if catalog.mailboxes[mailbox_key].imap is None:
            raise InvalidInput(f"mailbox {mailbox_key!r} has no imap: setting; give it one, or use --maildir")
    keys = [mailbox_key] if mailbox_key else sorted(k for k, m in catalog.mailboxes.items() if m.imap)
    if not keys:
        raise InvalidInput("no mailbox has an imap: setting; add one (imap: ${VAR}) or use --maildir")
    report = SyncReport()
    tokens = bearer_source(db)
    for key in keys:
        mailbox = catalog.mailboxes[key]
        reference = mailbox.imap
        assert reference is not None
        url = settings.resolve_reference(reference)
        if url is None:
            report.errors.append(f"mailbox {key}: {reference} is not set in the environment")
            continue
        held = catalog.mailbox_records[key].held_reason
        if mailbox.oauth is not None and is_authorisation_reason(key, held):
            report.errors.append(f"mailbox {key} paused: {held}")  # until `auth login` lifts it
            continue
        try:
            target = parse_imap_url(
                url, where=f"mailbox {key} imap", tls=tls_policy(mailbox),
                bearer=tokens(mailbox) if mailbox.oauth else None,
            )  # fmt: skip
            with db.holding():
                _sync_folder(db, catalog, key, target, now=now, away_days=away_days, report=report)
        except (ImapError, InvalidInput) as exc:
            report.errors.append(f"mailbox {key}: {exc}")
        except AuthorisationExpired as exc:
            hold_for_authorisation(db, key, exc.message, now=now)
            report.errors.append(f"mailbox {key} paused: {exc.message}")
    return report


def _sync_folder(
    db: Database, catalog: Catalog, mailbox_key: str, target: ImapTarget, *, now: datetime, away_days: int,
    report: SyncReport,
) -> None:  # fmt: skip
    with ImapFolder(target) as folder:
        with db.read() as tx:
            known = inbound_store.cursor(tx, mailbox_key, target.folder)

        def save(last_uid: int) -> None:
            with db.write() as tx:
                inbound_store.move_cursor(
                    tx, mailbox_key, target.folder, uidvalidity=folder.uidvalidity, last_uid=last_uid, now=now
                )

        # A new UIDVALIDITY voids every UID read before: rescan (Message-IDs keep it idempotent).
        last_uid = known[1] if known and known[0] == folder.uidvalidity else 0
        uids = folder.uids_after(last_uid)
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = uids[start : start + FETCH_CHUNK]
            for uid, raw in folder.fetch(chunk):
                key = f"imap:{mailbox_key}:{target.folder}:{folder.uidvalidity}:{uid}"
                apply_message(db, catalog, raw, source_key=key, mailbox_key=mailbox_key, now=now,
                              away_days=away_days, report=report)  # fmt: skip
            # Past the whole chunk, UIDs expunged meanwhile included: they are gone for good.
            save(last_uid := max(last_uid, *chunk))
        if not uids and known != (folder.uidvalidity, last_uid):
            save(last_uid)  # remember the folder's UIDVALIDITY even while it is empty


def read_messages(
    db: Database, *, unmatched_only: bool, mailbox_key: str | None, limit: int
) -> list[dict[str, object]]:
    """What inbox syncs read, newest first, with what became of each."""
    with db.read() as tx:
        rows = inbound_store.listing(tx, unmatched_only=unmatched_only, mailbox_key=mailbox_key, limit=limit)
    return [
        {key: value.isoformat() if isinstance(value, datetime | date) else value for key, value in row.items()}
        for row in rows
    ]


def apply_message(
    db: Database, catalog: Catalog, raw: bytes, *, source_key: str, mailbox_key: str | None, now: datetime,
    away_days: int, report: SyncReport,
) -> None:  # fmt: skip
    """Classify one message and apply it, with the record of having read it, atomically."""
    try:
        found = classify(raw)
    except Exception:  # a message nobody can parse is kept as unclassified, never stops the sync
        found = unclassified()
    # Not fsync'd: a commit lost to power failure leaves the message unread, and the next
    # sync reads and applies it again (its record and its events go or stay together).
    with db.write(durable=False) as tx:
        # The record is claimed first: a sync running at the same time (another cron host)
        # waits for this transaction, then finds the message taken and skips it.
        if (found.message_id and inbound_store.recorded(tx, mailbox_key, found.message_id)) or not inbound_store.claim(  # the same message read before from another place, or by another sync
            tx, now=now, source_key=source_key, mailbox_key=mailbox_key, message_id=found.message_id,
            sender=found.sender, subject=found.subject[:998], kind=found.kind, detail=found.bounce,
            reason=found.reason, address=(found.address or "")[:320] or None, returns_on=found.returns_on,
            received_at=found.sent_at,
        ):  # fmt: skip
            report.skipped += 1
            return
        contact, message_id = _match(tx, catalog, found, mailbox_key) if found.kind != UNCLASSIFIED else (None, None)
        if contact is None:
            outcome = "unmatched"
        elif found.kind == DELIVERY_REPORT:
            outcome = "delay notice: no effect" if found.action == "delayed" else "delivery report: no effect"
        else:
            outcome = _apply(tx, catalog, contact, message_id, found, now, away_days, report)
        inbound_store.settle(tx, source_key, contact_id=contact.id if contact else None, outcome=outcome[:200])
    report.read += 1
    report.count(found.kind)
    report.unmatched += contact is None


def _match(
    tx: Tx, catalog: Catalog, found: Classified, mailbox_key: str | None
) -> tuple[Contact | None, str | None]:
    """The contact the message concerns, and the Message-ID of seqctl's email it answers or
    reports on: through those Message-IDs, else its sender (a bounce: the bounced address)
    when that contact has an open enrollment in a sequence sending from this mailbox (any
    mailbox when none is named)."""
    if any(is_test_message_id(message_id) for message_id in found.refers_to):
        return None, None  # an answer to `seqctl test-send`: about no contact, whoever sent it
    for message_id in found.refers_to:
        message = sends.by_message_id(tx, message_id)
        if message is not None:
            return contact_store.by_email(tx, message.recipient), message_id
    candidates = [f.address for f in found.failures] if found.failures else [found.address]
    contact = next((c for a in candidates if a and (c := contact_store.by_email(tx, a)) is not None), None)
    if contact is None:
        return None, None
    if not any(
        mailbox_key is None or catalog.by_id[e.sequence_id].model.mailbox == mailbox_key
        for e in enrollment_store.open_for_contact(tx, contact.id)
    ):
        return None, None  # mail from someone in no sequence of this mailbox is not ours to act on
    return contact, None


def _apply(
    tx: Tx,
    catalog: Catalog,
    contact: Contact,
    message_id: str | None,
    found: Classified,
    now: datetime,
    away_days: int,
    report: SyncReport,
) -> str:
    event = apply_event(
        tx, catalog, contact, EVENT_OF[found.kind], message_id=message_id, at=found.sent_at or now, now=now,
        detail=found.bounce, source="inbox", dedupe_key=f"inbox:{found.message_id}" if found.message_id else None,
        sender=found.sender, reason=found.reason, text=found.text,
    )  # fmt: skip
    report.exited += len(event.exited)
    parts = [EVENT_OF[found.kind] + (f" ({found.bounce}, {found.reason})" if found.bounce else "")]
    if event.suppressed:
        parts.append("suppressed")
    if event.exited:
        parts.append(f"exited {len(event.exited)}")
    if found.kind == AUTO_REPLY:
        paused = _pause_while_away(tx, catalog, contact, found, now, away_days)
        report.paused += len(paused)
        if paused:
            parts.append(f"paused {len(paused)} until {paused[0]}")
    return ", ".join(parts)


def _pause_while_away(
    tx: Tx, catalog: Catalog, contact: Contact, found: Classified, now: datetime, away_days: int
) -> list[str]:
    """Hold the contact's enrollments (those whose sequence does not exit on auto-replies)
    until the return date, at the first sending time of that day in the contact's calendar.
    A step already due then runs at once; its wait is not restarted."""
    received = (found.sent_at or now).date()
    back_on = resume_after(found.returns_on, received, away_days)
    held = []
    for e in enrollment_store.open_for_contact(tx, contact.id):
        sequence = catalog.by_id[e.sequence_id].model
        if e.status not in RUNNABLE or EventType.AUTO_REPLIED in sequence.exit_on:
            continue
        calendar = calendar_of(catalog, sequence, contact)
        until = calendar.next_opening(datetime.combine(back_on, time(0), tzinfo=calendar.zone))
        if e.next_run_at is None or e.next_run_at >= until:  # nothing to send before then
            continue
        if enrollment_store.guarded_update(
            tx,
            e.id,
            now,
            where={"status": RUNNABLE},
            next_run_at=until,
            waiting_on="out_of_office",
        ):
            held.append(until.isoformat())
    return held
