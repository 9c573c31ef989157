"""Composing one email of a sequence for one contact: variant, subject (or the thread's),
bodies, tracked links, threading headers and the unsubscribe link, built into the exact
message that is committed as the send's intent."""

from __future__ import annotations

from urllib.parse import quote

from seqctl import settings
from seqctl.delivery.message import Outgoing, build, new_message_id
from seqctl.delivery.render import render
from seqctl.delivery.tracking import UNSUBSCRIBE, Token, track_html, tracking_url
from seqctl.services.batch.context import Batch
from seqctl.services.batch.work import PreparedSend, Work
from seqctl.services.step_rules import email_variant, render_email
from seqctl.spec.mailboxes import Mailbox
from seqctl.spec.models import EmailStep, Sequence
from seqctl.states import SendStatus


def compose(batch: Batch, work: Work, step: EmailStep, mailbox: Mailbox) -> PreparedSend:
    """The email for this work item's step; TemplateProblem when it cannot be rendered."""
    history = sorted(
        (m for m in work.sends.values() if m.status == SendStatus.SENT and m.step_id != step.id),
        key=lambda m: (m.sent_at, m.id),
    )
    variant = email_variant(step, work.id)
    context = batch.template_context(work, mailbox)
    parts = render_email(step, variant, context, first_subject=history[0].subject if history else None).checked()
    assert parts.subject is not None and parts.text is not None  # checked() raised otherwise
    subject, text, html = parts.subject, parts.text, parts.html
    existing = work.sends.get(step.id)
    message_id = existing.message_id if existing else new_message_id(mailbox.from_)
    tracked = work.loaded.model.tracked()
    if html is not None and (tracked.opens or tracked.clicks):
        assert mailbox.tracking_url is not None and batch.secret is not None  # see link_problem
        html = track_html(
            html, base_url=mailbox.tracking_url, secret=batch.secret, message_id=message_id,
            opens=tracked.opens, clicks=tracked.clicks,
        )  # fmt: skip
    attempt = existing.attempts + 1 if existing else 1
    raw = build(Outgoing(
        sender=mailbox.from_, recipient=work.contact.email, recipient_name=work.contact.display_name(),
        subject=subject, text=text, html=html, message_id=message_id, date=batch.now,
        in_reply_to=history[-1].message_id if step.thread and history else None,
        references=tuple(m.message_id for m in history) if step.thread else (),
        reply_to=mailbox.reply_to,
        unsubscribe_url=_unsubscribe_url(mailbox, batch.secret, message_id, work.contact.email),
        list_unsubscribe=work.loaded.model.list_unsubscribe or mailbox.list_unsubscribe,
    ))  # fmt: skip
    return PreparedSend(
        existing.id if existing else None, attempt, message_id, raw, subject,
        variant.id if variant else None, mailbox, step,
    )  # fmt: skip


def _unsubscribe_url(mailbox: Mailbox, secret: str | None, message_id: str, email: str) -> str | None:
    """The mailbox's own one-click URL, else `seqctl serve`'s when it has a tracking_url."""
    if mailbox.unsubscribe_url is None:
        if mailbox.tracking_url is None or secret is None:
            return None
        return tracking_url(mailbox.tracking_url, secret, Token(UNSUBSCRIBE, message_id))
    return render(
        mailbox.unsubscribe_url,
        {"message_id": quote(message_id, safe=""), "email": quote(email, safe="")},
        what="unsubscribe_url",
    )


def link_problem(sequence: Sequence, mailbox: Mailbox, secret: str | None) -> str | None:
    """Why this sequence's emails cannot carry the signed links they need (tracking, or
    seqctl's one-click unsubscribe), or None. Such emails are held, not failed."""
    tracked = sequence.tracked()
    if (tracked.opens or tracked.clicks) and mailbox.tracking_url is None:
        return f"sequence {sequence.key} tracks opens or clicks but mailbox {mailbox.key} has no tracking_url"
    needs_secret = tracked.opens or tracked.clicks or (mailbox.tracking_url and mailbox.unsubscribe_url is None)
    if needs_secret and secret is None:
        return f"{settings.SECRET_VARIABLE} is not set: tracking and unsubscribe links cannot be signed"
    return None
