"""Build the MIME message: headers chosen by seqctl, text always, HTML optional.

Contact data only ever reaches headers through `single_line` and RFC 2047 encoding, so
it cannot add a header; `_header` refuses any line break that is not build's own folding.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.quoprimime import body_encode
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

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
    # "none" sends no List-Unsubscribe at all: responders (RFC 5230 §4.6, Gmail's) then
    # answer with out-of-office replies; "mailto" leaves the HTTPS URL out.
    list_unsubscribe: str | None = None


@lru_cache(maxsize=64)
def split_address(value: str) -> tuple[str, str]:
    """(display name, address) of a mailbox's `from:` or `reply_to:`; a tick parses each once."""
    return parseaddr(value)


def new_message_id(sender: str) -> str:
    """A globally unique Message-ID in the sending domain, angle brackets included."""
    domain = split_address(sender)[1].rpartition("@")[2] or "seqctl.invalid"
    return f"<{secrets.token_hex(16)}@{domain}>"


# A test send's Message-ID starts so (`seqctl test-send`): a reply or bounce that refers
# to it is never taken for one to a sequence's email.
TEST_MESSAGE_ID_PREFIX = "<seqctl-test."


def test_message_id(sender: str) -> str:
    return new_message_id(sender).replace("<", TEST_MESSAGE_ID_PREFIX, 1)


def is_test_message_id(message_id: str) -> bool:
    return message_id.startswith(TEST_MESSAGE_ID_PREFIX)


def thread_subject(first_subject: str) -> str:
    """`Re: ` plus the thread's first subject, never `Re: Re:`."""
    subject = first_subject.strip()
    while subject[:3].lower() == "re:":
        subject = subject[3:].lstrip()
    return f"Re: {subject}"


def list_unsubscribe(sender: str, url: str | None, mode: str | None = None) -> tuple[str | None, str | None]:
    """The List-Unsubscribe value (None: no header) and, for an HTTPS URL, the RFC 8058
    List-Unsubscribe-Post. `mode` is the mailbox's or sequence's `list_unsubscribe`."""
    if mode == "none":
        return None, None
    mailto = f"<mailto:{split_address(sender)[1]}?subject=unsubscribe>"
    if url and mode != "mailto":
        return f"<{url}>, {mailto}", "List-Unsubscribe=One-Click"
    return mailto, None


def build(message: Outgoing) -> str:
    """The message as CRLF text, ready for SMTP or a Maildir.

    Written out directly rather than through `email.message.EmailMessage`, whose header
    registry costs ~0.9 ms a message (more than everything else a send does together).
    Every value passes `_header`, which encodes non-ASCII text (RFC 2047) and refuses
    line breaks, so neither contact data nor a template can add a header.
    """
    unsubscribe, one_click = list_unsubscribe(message.sender, message.unsubscribe_url, message.list_unsubscribe)
    headers = [
        ("From", _address(message.sender)),
        ("To", _mailbox(message.recipient_name, message.recipient)),
        ("Subject", _encoded(single_line(message.subject))),
        ("Date", format_datetime(message.date)),
        ("Message-ID", message.message_id),
    ]
    if message.reply_to:
        headers.append(("Reply-To", _address(message.reply_to)))
    if message.in_reply_to:
        headers.append(("In-Reply-To", message.in_reply_to))
    if message.references:
        headers.append(("References", "\r\n ".join(message.references)))
    if unsubscribe:
        headers.append(("List-Unsubscribe", unsubscribe))
    if one_click:
        headers.append(("List-Unsubscribe-Post", one_click))
    # No X-Mailer: SpamAssassin's XM_RANDOM scores a short unknown one as random.
    headers.append(("MIME-Version", "1.0"))
    text_part = _text_part("plain", message.text)
    if message.html is None:
        return _header_block(headers + text_part[0]) + text_part[1]
    boundary = f"=_seqctl_{secrets.token_hex(12)}"
    parts = [text_part, _text_part("html", message.html)]
    # The line break before each delimiter belongs to the delimiter (RFC 2046 §5.1.1).
    body = "".join(f"--{boundary}\r\n{_header_block(h)}{b}\r\n" for h, b in parts) + f"--{boundary}--\r\n"
    headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
    return _header_block(headers) + body


# SMTP's limit on a line, CRLF excluded (RFC 5321 §4.5.3.1.6).
MAX_LINE = 998


def _header_block(headers: list[tuple[str, str]]) -> str:
    return "".join(f"{name}: {_header(name, value)}\r\n" for name, value in headers) + "\r\n"


def _header(name: str, value: str) -> str:
    # Only `build`'s own folding ("\r\n " between values) may break a header line.
    if any(ch in value.replace("\r\n ", "") for ch in "\r\n"):
        raise ValueError(f"{name}: a header value may not contain a line break")
    return value


def _encoded(text: str) -> str:
    """Unstructured header text: as is when plain ASCII, else RFC 2047 encoded words."""
    if text.isascii() and len(text) < MAX_LINE - 80:
        return text
    return Header(text, "utf-8", maxlinelen=76, header_name="Subject").encode(linesep="\r\n")


def _address(value: str) -> str:
    """A mailbox header from configuration (`Name <addr>`)."""
    name, address = split_address(value)
    if not address:
        raise ValueError(f"not an email address: {value!r}")
    return _mailbox(name, address)


def _mailbox(name: str, address: str) -> str:
    """`Name <addr>`, the display name on one line and encoded when not ASCII."""
    return formataddr((single_line(name), address), charset="utf-8")


def _text_part(subtype: str, text: str) -> tuple[list[tuple[str, str]], str]:
    """Headers and CRLF body of a text part: 7bit when it can be, else quoted-printable."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] != "":
        lines.append("")  # a text part ends with a line break
    if text.isascii() and all(len(line) <= MAX_LINE for line in lines):
        encoding, body = "7bit", "\r\n".join(lines)
    else:
        # body_encode quotes each character as one byte: hand it the UTF-8 bytes as such.
        as_bytes = "\n".join(lines).encode("utf-8").decode("latin-1")
        encoding, body = "quoted-printable", body_encode(as_bytes, maxlinelen=76, eol="\r\n")
    headers = [
        ("Content-Type", f'text/{subtype}; charset="utf-8"'),
        ("Content-Transfer-Encoding", encoding),
    ]
    return headers, body
