"""Build the MIME message: headers chosen by seqctl, text always, HTML optional.

Contact data only ever reaches headers through `single_line` and the email package's
own encoders, so it cannot add a header; `EmailMessage` refuses CR/LF as well.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, parseaddr

from seqctl.delivery.render import single_line


@dataclass(frozen=True)
class Outgoing:
    """Everything needed to build one message; `date` is the moment of sending."""

    sender: str
    recipient: str
    recipient_name: str
    subject: str
    text: str
    html: str | None
    message_id: str
    date: datetime
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_to: str | None = None
    unsubscribe_url: str | None = None


def new_message_id(sender: str) -> str:
    """A globally unique Message-ID in the sending domain, angle brackets included."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "seqctl.invalid"
    return f"<{secrets.token_hex(16)}@{domain}>"


def thread_subject(first_subject: str) -> str:
    """`Re: ` plus the thread's first subject, never `Re: Re:`."""
    subject = first_subject.strip()
    while subject[:3].lower() == "re:":
        subject = subject[3:].lstrip()
    return f"Re: {subject}"


def list_unsubscribe(sender: str, url: str | None) -> tuple[str, str | None]:
    """The List-Unsubscribe value and, for an HTTPS URL, the RFC 8058 List-Unsubscribe-Post."""
    mailto = f"<mailto:{parseaddr(sender)[1]}?subject=unsubscribe>"
    if url:
        return f"<{url}>, {mailto}", "List-Unsubscribe=One-Click"
    return mailto, None


# Fold only past SMTP's line limit: folding before a header's first token (as the 78
# default does for long List-Unsubscribe values) leaves a leading space some parsers keep.
POLICY = SMTP.clone(max_line_length=998)


def build(message: Outgoing) -> str:
    """The message as CRLF text, ready for SMTP or a Maildir."""
    mime = EmailMessage(policy=POLICY)
    mime["From"] = message.sender
    mime["To"] = formataddr((single_line(message.recipient_name), message.recipient))
    mime["Subject"] = single_line(message.subject)
    mime["Date"] = format_datetime(message.date)
    mime["Message-ID"] = message.message_id
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    if message.in_reply_to:
        mime["In-Reply-To"] = message.in_reply_to
    if message.references:
        mime["References"] = " ".join(message.references)
    unsubscribe, one_click = list_unsubscribe(message.sender, message.unsubscribe_url)
    mime["List-Unsubscribe"] = unsubscribe
    if one_click:
        mime["List-Unsubscribe-Post"] = one_click
    mime["X-Mailer"] = "seqctl"
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime.as_string()
