"""`seqctl test-send`: one step of a sequence, rendered for a contact (or the sample one)
and sent now to the operator through the sequence's mailbox — its real transport — with
`[test] ` before the subject. No enrollment, limit, statistic or send record is touched,
and the Message-ID marks it (`delivery.message.test_message_id`), so a reply to it is
never taken for a reply to the sequence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seqctl.delivery.message import Outgoing, build, split_address, test_message_id
from seqctl.delivery.pool import TransportPool
from seqctl.delivery.transports import SendOutcome
from seqctl.errors import InvalidInput, SeqctlError
from seqctl.services.catalog import Catalog
from seqctl.services.contacts import normalise_email
from seqctl.services.oauth_tokens import bearer_source
from seqctl.services.preview import contact_or_sample
from seqctl.services.progress import owner_of, template_context
from seqctl.services.step_rules import email_variant, render_email
from seqctl.spec.models import EmailStep
from seqctl.store.db import Database

TEST_PREFIX = "[test] "


def test_send(
    db: Database,
    sequence_key: str,
    step_id: str,
    *,
    to: str,
    email: str | None,
    variant_id: str | None,
    now: datetime,
    pool: TransportPool | None = None,
) -> dict[str, Any]:
    catalog = Catalog.load(db)
    sequence = catalog.sequence(sequence_key).model
    if step_id not in sequence.step_ids():
        raise InvalidInput(f"{step_id}: no such step in {sequence_key} ({', '.join(sequence.step_ids())})")
    step = sequence.step(step_id)
    if not isinstance(step, EmailStep):
        raise InvalidInput(f"step {step_id} is a {step.type} step: only an email step can be sent")
    recipient = normalise_email(to)
    mailbox = catalog.mailbox_for(sequence)
    if mailbox is None:
        raise InvalidInput(f"mailbox {sequence.mailbox!r} is not imported")
    contact = contact_or_sample(db, email)
    address, fields, tags = contact.email, dict(contact.fields), list(contact.tags)
    variant = email_variant(step, 0)
    if variant_id is not None:
        variant = next((v for v in step.variants or [] if v.id == variant_id), None)
        if variant is None:
            known = ", ".join(v.id for v in step.variants or []) or "it has none"
            raise InvalidInput(f"--variant {variant_id}: no such variant of {step_id} ({known})")
    context = template_context(
        address, fields, tags, sequence, owner=owner_of(None, fields, sequence), mailbox=mailbox
    )
    parts = render_email(step, variant, context, first_subject=_first_subject(sequence, context)).checked()
    assert parts.subject is not None and parts.text is not None
    message_id = test_message_id(mailbox.from_)
    subject = TEST_PREFIX + parts.subject
    raw = build(Outgoing(
        sender=mailbox.from_, recipient=recipient, recipient_name="", subject=subject, text=parts.text,
        html=parts.html, message_id=message_id, date=now, reply_to=mailbox.reply_to, list_unsubscribe="none",
    ))  # fmt: skip
    pool = pool or TransportPool(bearer=bearer_source(db))
    try:
        transport = pool.get(mailbox)
        transport.stage(message_id, 1, raw)  # as the tick does: a Maildir outbox writes staged files
        result = transport.send(split_address(mailbox.from_)[1], recipient, raw, message_id=message_id)
    finally:
        pool.close()
    if result.outcome is not SendOutcome.SENT:
        raise SeqctlError(f"the test email was not sent ({result.outcome.value}): {result.detail}")
    return {
        "to": recipient, "contact": address, "mailbox": mailbox.key, "subject": subject,
        "variant": variant.id if variant else None, "message_id": message_id,
    }  # fmt: skip


def _first_subject(sequence: Any, context: dict[str, Any]) -> str | None:
    """The thread's first subject, for a threaded step without its own: the sequence's
    first email's (or its first variant's)."""
    for step in sequence.steps:
        if isinstance(step, EmailStep):
            variant = step.variants[0] if step.variants else None
            if (variant or step).subject is not None:
                return render_email(step, variant, context, first_subject=None).subject
    return None
