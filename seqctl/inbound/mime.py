"""Reading an inbound message's parts: headers that never raise, text that never fails to
decode, the report's own words apart from the message it returns, and the sender's own
words apart from the thread they quote.

Pure functions over `email.message.Message` objects, parsed with the `compat32` policy:
the modern policy's header registry parses every header into objects on each access,
which made classification four times slower, and all seqctl needs is text.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from email.header import Header, decode_header
from email.message import Message
from functools import lru_cache
from itertools import islice

MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s]+>")
ATTACHED = ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers", "message/partial")

# Where a bounce's own words end and the copy of the returned message begins.
RETURNED_COPY = re.compile(
    r"^[\s>*=_-]*(?:"
    r"below this line is a copy of the message|this is a copy of the message|"
    r"(?:the )?original message (?:follows|below|as received|headers?|is attached|was attached)|"
    r"(?:un)?sent message follows|message header follows|returned message follows|"
    r"(?:the )?(?:first \d+ lines|header|headers|text|copy) of (?:the |your )?original message|"
    r"the original message (?:was|is) (?:attached|included)|included is a copy|"
    r"-+ ?original message ?-+|message body suppressed|returned mail follows|"
    r"original message text follows|the header of the original message is|"
    r"a copy of the original message below|unsent message below|your message reads|"
    r"start of returned message|here is a copy of|original message as received|"
    r"-+ ?(?:ursprüngliche nachricht|message d'origine|mensaje original|messaggio originale) ?-+"
    r")",
    re.I | re.M,
)

# Where the quoted thread starts in a reply.
QUOTE_START = re.compile(
    r"^(on .{3,200} wrote:|am .{3,200} schrieb .{0,200}:|le .{3,200} a écrit ?:|el .{3,200} escribió:|"
    r"il .{3,200} ha scritto:|em .{3,200} escreveu:|op .{3,200} schreef .{0,200}:|"
    r"-{2,} ?(original message|ursprüngliche nachricht|message d'origine|mensaje original|"
    r"messaggio originale|mensagem original|oorspronkelijk bericht) ?-{2,}|"
    r"_{10,}|"
    r"(from|von|de|da|van): .+)$",
    re.I | re.M,
)
_SIGNATURE = re.compile(r"^-- ?$", re.M)


# Bounds on what one inbound message may make the classifier read (README "Limits"). The
# words that decide (a reply's text, a report's status) come first; what lies past the
# first MAX_MESSAGE_BYTES is attachments and returned originals.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_MULTIPARTS = 64  # nested or not: past it only the headers are read
_MULTIPART = re.compile(rb"multipart/", re.I)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def parse(raw: bytes) -> Message:
    """The message, read up to the bounds above: its first MAX_MESSAGE_BYTES, and only its
    headers when it declares more than MAX_MULTIPARTS multiparts (the email package parses
    nested parts recursively, so a hostile nesting would cost seconds and end in an error)."""
    raw = raw[:MAX_MESSAGE_BYTES]
    if next(islice(_MULTIPART.finditer(raw), MAX_MULTIPARTS, None), None) is not None:
        end = _HEADER_END.search(raw)
        head = raw[: end.start()] if end else raw
        message = email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.compat32)
        del message["Content-Type"]  # its parts were not read: a plain, empty body
        return message
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def header(message: Message, name: str) -> str:
    """A header's value, unfolded and decoded (RFC 2047); "" when absent or so malformed
    it cannot be read."""
    value = None
    try:
        value = message.get(name)
        if value is None:
            return ""
        if isinstance(value, Header) or "=?" in str(value):
            text = "".join(_decoded(chunk, charset) for chunk, charset in decode_header(value))
        else:
            text = str(value)
    except (ValueError, IndexError, TypeError, AttributeError, LookupError, UnicodeError, AssertionError):
        text = value if isinstance(value, str) else ""
    # Raw 8-bit bytes (compat32 keeps them as surrogates) are read as UTF-8.
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return re.sub(r"\s*\r?\n\s+", " ", text).strip()


def _decoded(chunk: bytes | str, charset: str | None) -> str:
    if isinstance(chunk, str):
        return chunk
    return _decode(chunk, charset if charset and charset != "unknown-8bit" else "utf-8")


# Charsets that mislabelled UTF-8 usually claims.
_LABELS_OF_UTF8 = ("us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "windows-1252", "cp1252")


def _decode(data: bytes, charset: str) -> str:
    """Bytes as text: UTF-8 when they are valid UTF-8 and the label is one mislabelled mail
    claims, else the declared charset (UTF-8 when Python does not know it)."""
    if charset.lower() in _LABELS_OF_UTF8:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def text_of(part: Message) -> str:
    """A text part's content as text, whatever its charset claims; HTML reduced to text."""
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        content = _decode(payload, part.get_content_charset() or "utf-8")
    else:
        raw = part.get_payload()
        content = raw if isinstance(raw, str) else ""
    if part.get_content_subtype() == "html":
        content = re.sub(r"(?is)<(script|style).*?</\1>", " ", content)
        content = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>|</li>", "\n", content)
        content = re.sub(r"<[^>]+>", " ", content)
        content = re.sub(r"&lt;", "<", re.sub(r"&gt;", ">", re.sub(r"&nbsp;|&#160;", " ", content)))
        content = content.replace("&amp;", "&")
    return content


# Each view below is asked for several times while one message is classified; the caches
# hold the few messages of the classification in hand (by identity: a Message defines no
# equality, and a cached one cannot be collected and its id reused).
@lru_cache(maxsize=4)
def own_parts(message: Message) -> tuple[Message, ...]:
    """Every leaf part of the message itself, not descending into attached messages."""
    return tuple(_leaves(message))


def _leaves(message: Message) -> Iterator[Message]:
    stack = [message]
    while stack:
        part = stack.pop(0)
        # message/* parts are leaves: an attached message, or report fields that the email
        # package parses into one header block per recipient.
        if part.get_content_type() in ATTACHED or part.get_content_maintype() == "message":
            yield part
            continue
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            stack[0:0] = [p for p in payload if isinstance(p, Message)]
        else:
            yield part


@lru_cache(maxsize=4)
def report_text(message: Message) -> str:
    """The report's own words: its text parts (not the attached original), cut where a copy
    of the returned message starts."""
    texts = [text_of(p) for p in own_parts(message) if p.get_content_maintype() == "text"
             and p.get_content_type() not in ATTACHED]  # fmt: skip
    text = "\n".join(texts)
    cut = RETURNED_COPY.search(text)
    return text[: cut.start()] if cut else text


@lru_cache(maxsize=4)
def returned_copy(message: Message) -> str:
    """What follows a "copy of the message" marker in the report's text (the returned
    message's headers, when the MTA inlines them rather than attaching them)."""
    text = "\n".join(text_of(p) for p in own_parts(message) if p.get_content_maintype() == "text")
    cut = RETURNED_COPY.search(text)
    return text[cut.end() :] if cut else ""


@lru_cache(maxsize=4)
def attached_headers(message: Message) -> tuple[Message, ...]:
    """The headers of each returned (attached) message: message/rfc822's inner message, or
    text/rfc822-headers parsed as headers."""
    found: list[Message] = []
    for part in own_parts(message):
        kind = part.get_content_type()
        if kind not in ATTACHED:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            found.append(payload[0])
        else:
            text = payload if isinstance(payload, str) else text_of(part)
            found.append(email.message_from_string(text.lstrip(), policy=email.policy.compat32))
    return tuple(found)


def body_part(message: Message) -> Message | None:
    """The message's body as a person reads it: its first inline text/plain part, else its
    first text/html part."""
    inline = [
        p for p in own_parts(message)
        if p.get_content_maintype() == "text" and not header(p, "Content-Disposition").lower().startswith("attachment")
    ]  # fmt: skip
    for subtype in ("plain", "html"):
        for part in inline:
            if part.get_content_subtype() == subtype:
                return part
    return None


def own_text(message: Message) -> str:
    """The sender's own words: the plain-text body (else the HTML's text) up to the quoted
    thread or the signature, without `>` lines."""
    body = body_part(message)
    text = text_of(body) if body is not None else ""
    for boundary in (QUOTE_START, _SIGNATURE):
        start = boundary.search(text)
        if start:
            text = text[: start.start()]
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))
