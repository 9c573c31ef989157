"""Why a message bounced, in SPEC §6's vocabulary, and whether the address is gone.

From the recipient's own enhanced status code (RFC 3463), its SMTP reply code and the
diagnostic text together. The text decides when it names a cause (MTAs put "user
unknown" behind 5.7.1 and "mailbox full" behind 5.0.0); a precise status code decides
for causes text often blurs (5.1.1, 5.2.2, the 5.7.2x authentication family); the bare
code class is the last resort. Hard means the address is gone: `user_unknown` and
`host_unknown` only. A 5.7.1 policy block is soft, and so is a final failure with 4.x.x.
"""

from __future__ import annotations

import re

REASONS = (
    "user_unknown", "host_unknown", "disabled", "mailbox_full", "too_large", "blocked", "auth_failed",
    "rate_limited", "expired", "system_error", "other",
)  # fmt: skip
HARD_REASONS = frozenset({"user_unknown", "host_unknown"})
# The sender's problem: never suppress the recipient; they count toward the mailbox breaker.
SENDER_SIDE = frozenset({"blocked", "auth_failed", "rate_limited"})

STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
REPLY_CODE = re.compile(r"(?<![\d.#-])([245][0-5]\d)(?=[ -]|$)(?![ -]?\d+\.\d+\.\d)", re.M)
# A reply code that comes with an enhanced status: "550 5.1.1", "550-5.1.1", "#5.1.1".
REPLY_WITH_STATUS = re.compile(r"(?<!\d)([245][0-5]\d)[ -]+\(?#?([245]\.\d{1,3}\.\d{1,3})")


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(patterns), re.I)


# In the order they are tried: the more specific cause first.
_TEXT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # The sender's own address refused (Sendmail quotes it): the receiver's policy, not the recipient.
    ("blocked", _words(
        r"domain of sender", r"sender (?:address |domain )?(?:rejected|denied|blocked|unknown|invalid|verify failed)",
        r"bad sender", r"sender address (?:has )?null mx", r"(?:sender|from) (?:domain|address) .*(?:does not|doesn'?t) (?:exist|resolve)",
    )),
    ("auth_failed", _words(
        r"\bspf\b", r"\bdkim\b", r"\bdmarc\b", r"sender policy framework", r"domainkeys",
        r"authentication (?:checks?|results?|failed|failure|required)", r"not (?:pass|passing) authentication",
        r"unauthenticated (?:email|mail|sender)", r"fails? (?:to )?authenticat", r"\barc\b.*fail",
    )),
    ("mailbox_full", _words(
        r"mail ?(?:box|folder) (?:is |was )?(?:full|over|exceed)", r"\bquota\b", r"over ?quota", r"mailbox size",
        r"exceeded (?:the )?(?:storage|mailbox)", r"full mail ?box", r"disk (?:space|quota)",
        r"insufficient (?:disk |storage )?space", r"(?:storage|mailbox) (?:limit|allocation) (?:exceeded|reached)",
        r"too many messages (?:in|on) (?:the |this )?(?:mail ?box|account)", r"postfach (?:ist )?voll",
        r"bo[iî]te (?:aux lettres )?pleine", r"buz[oó]n (?:est[aá] )?lleno", r"casella (?:piena|è piena)",
        r"caixa (?:postal )?cheia", r"mailbox has exceeded", r"user has exceeded", r"account is full",
        r"out of (?:disk )?space", r"storage (?:is )?full", r"exceeds? (?:its|their|his|her) quota",
    )),
    ("too_large", _words(
        r"too (?:large|big)", r"message (?:is )?too long", r"message size", r"size limit", r"exceeds? (?:the )?(?:maximum|max|allowed|fixed)",
        r"message length exceeds", r"message (?:is )?larger than", r"maximum (?:message )?size",
        r"mail size", r"size of (?:the |this )?message", r"message exceeds",
    )),
    ("disabled", _words(
        r"(?:account|mail ?box|user|address|recipient)(?: has been| is| was)?(?: currently| temporarily| permanently)? "
        r"(?:disabled|suspended|deactivated|inactive|locked|frozen|closed|blocked due to inactivity|not active)",
        r"inactive (?:user|account|mailbox|recipient)", r"disabled (?:user|account|mailbox|recipient)",
        r"suspended (?:user|account|mailbox)", r"account (?:has )?expired", r"deactivated",
        r"discontinued", r"no longer (?:active|in use)", r"gesperrt", r"désactivé",
    )),
    ("host_unknown", _words(
        r"host (?:or domain name )?(?:not found|unknown)", r"unknown host", r"name service error", r"domain (?:name )?not found",
        r"no such (?:domain|host)", r"domain (?:does not|doesn'?t) exist", r"unrouteable", r"unroutable",
        r"no mx", r"\bnxdomain\b", r"does not accept (?:e-?)?mail", r"null mx", r"mx (?:record )?(?:not found|lookup)",
        r"couldn'?t find any host", r"host not (?:found|reachable)", r"dns (?:error|lookup|failure).*(?:domain|host)",
        r"invalid domain", r"domain (?:is )?(?:invalid|unknown|not (?:valid|exist))", r"unknown domain",
        r"not (?:a )?(?:valid|known) domain", r"domain.*(?:has no|without) (?:mx|mail)",
    )),
    ("user_unknown", _words(
        r"user(?:name)? (?:is )?unknown", r"unknown (?:user|recipient|mailbox|local[- ]?part|address|alias|account)",
        r"no such (?:user|mailbox|recipient|account|address|person|local user)", r"user not found", r"user doesn'?t exist",
        r"(?:mailbox|recipient|user|address|account|addressee|alias)(?: name)? (?:does not|doesn'?t|did not) exist",
        r"does not exist", r"doesn'?t exist", r"not exist", r"(?:mailbox|recipient|user|address) (?:not found|unavailable|unknown)",
        r"invalid (?:recipient|mailbox|address|user|e-?mail)", r"undeliverable address",
        r"address (?:rejected|unknown|not (?:found|valid|recognized))", r"not (?:a )?valid (?:recipient|mailbox|user|address)",
        r"recipient name is not recognized", r"name is not recognized", r"unknown recipient", r"recipnotfound",
        r"recipientnotfound", r"resolver\.adr", r"no mailbox (?:here|by that name)", r"not our customer",
        r"no (?:longer )?(?:valid|available|active) (?:user|mailbox|address)", r"is no longer (?:with|at|valid|available|here)",
        r"no longer (?:works|employed|with)", r"has (?:moved|left)", r"addressee unknown", r"bad destination mailbox",
        r"mailbox unavailable", r"unknown address", r"account (?:is )?unavailable", r"not listed in",
        r"user (?:is )?not (?:local|here)", r"not a known user", r"no account", r"unrecognized (?:user|address)",
        r"access denied\. as\(201806281\)", r"didn'?t match any", r"did not (?:exactly )?match",
        r"doesn'?t have an? .{0,40}account", r"invalid (?:final )?(?:delivery )?userid", r"user not known",
        r"no longer valid", r"(?:address|mailbox) is wrong", r"no final (?:e-?mail )?delivery point",
        r"does not have a final", r"no matches to nameserver query", r"not (?:a )?known (?:user|recipient)",
        r"benutzer (?:ist )?unbekannt", r"unbekannte?r? (?:empfänger|benutzer)", r"existiert nicht",
        r"n'existe pas", r"(?:utilisateur|destinataire) inconnu", r"(?:usuario|destinatario) desconocido",
        r"no existe", r"utente (?:sconosciuto|inesistente)", r"non esiste", r"usuário (?:desconhecido|inexistente)",
        r"não existe", r"onbekende? (?:gebruiker|ontvanger)", r"bestaat niet", r"no such e-?mail",
    )),
    ("rate_limited", _words(
        r"rate[- ]?limit", r"too many (?:messages|connections|recipients|emails|mails|requests|concurrent)",
        r"throttl", r"unusual rate", r"(?:sending|receiving) (?:rate|limit)", r"exceeded (?:the )?(?:rate|sending|message)",
        r"too (?:fast|frequent)", r"slow down", r"try (?:again )?later.*(?:limit|rate)", r"rate of",
        r"mail flood", r"temporarily (?:deferred|rate)", r"\bspeed\b", r"flood",
    )),
    ("expired", _words(
        r"retry time(?:out)? (?:not reached|exceeded)", r"delivery time (?:has )?expired", r"time(?:d)? ?out.*(?:queue|expired)",
        r"(?:gave|giving) up", r"not going to try again", r"too long in (?:the )?queue", r"in the queue too long",
        r"message expired", r"expired after", r"could not be delivered (?:with)?in \d+", r"not delivered within",
        r"queue(?:d)? (?:period|time|lifetime)", r"maximum (?:retry|time)", r"no (?:further|more) (?:delivery )?attempts",
        r"undeliverable for \d+", r"for (?:the last |over )?\d+ (?:days?|hours?)", r"delivery attempts? (?:will )?stop",
        r"failed (?:after )?\d+ attempts", r"aborted after", r"not been collected",
    )),
    ("blocked", _words(
        r"block", r"blacklist", r"black list", r"deny ?list", r"spamhaus", r"spamcop", r"sorbs", r"barracuda",
        r"\brbl\b", r"\bdnsbl\b", r"reputation", r"spam", r"junk", r"virus", r"malware", r"phish",
        r"\bptr\b", r"reverse (?:dns|lookup)", r"\brdns\b", r"\btls\b", r"starttls", r"encrypt",
        r"policy", r"restricted", r"prohibited", r"not (?:allowed|permitted|authori[sz]ed)", r"denied", r"refused",
        r"rejected (?:by|due|for|because|as)", r"message rejected", r"content rejected", r"relay(?:ing)? (?:denied|not)",
        r"banned", r"listed (?:at|in|on|by)", r"\bfilter", r"suspicious", r"untrusted", r"unsolicited",
        r"bulk mail", r"not accepting mail from", r"administrative prohibition", r"security",
        r"client host \S+ (?:rejected|blocked)", r"ip (?:address )?(?:\S+ )?(?:is )?(?:on|in)",
        r"sender (?:address )?(?:rejected|denied|blocked|not)", r"domain of sender", r"bad sender",
        r"(?:sender|from) (?:domain|address) .*(?:does not|doesn'?t) (?:exist|resolve)",
    )),
    ("system_error", _words(
        r"connection (?:refused|timed out|reset|lost|closed|dropped)", r"timed out", r"time-?out", r"network",
        r"mail loop", r"loops? back", r"routing loop", r"too many hops", r"hop count", r"local (?:error|configuration)",
        r"internal (?:server )?error", r"server error", r"system error", r"misconfigur", r"temporary (?:failure|error|problem)",
        r"temporarily unavailable", r"service (?:not available|unavailable)", r"unable to connect", r"not responding",
        r"could(?: not|n'?t) connect", r"establish an smtp connection", r"lost connection", r"i/o error",
        r"resources? (?:temporarily )?unavailable", r"transaction failed", r"protocol error", r"syntax error",
        r"not reachable", r"unreachable", r"host down", r"try again", r"command died", r"command output",
        r"mail system", r"delivery failure",
    )),
)

# Enhanced status codes that name their cause better than the words around them.
_DECISIVE_STATUS = {
    "1.1": "user_unknown", "1.2": "host_unknown", "1.10": "host_unknown", "1.6": "user_unknown",
    "2.2": "mailbox_full", "2.3": "too_large", "3.4": "too_large",
    "7.20": "auth_failed", "7.21": "auth_failed", "7.22": "auth_failed", "7.23": "auth_failed",
    "7.24": "auth_failed", "7.25": "blocked", "7.26": "auth_failed", "7.27": "blocked", "7.28": "rate_limited",
    "7.13": "disabled", "4.7": "expired",
}  # fmt: skip
# The rest, when the text says nothing of its own.
_STATUS_SUBJECT = {
    "1": "user_unknown", "2": "other", "3": "system_error", "4": "system_error", "5": "system_error",
    "6": "other", "7": "blocked",
}  # fmt: skip
_STATUS_DETAIL = {
    "1.3": "user_unknown", "1.4": "user_unknown", "1.0": "user_unknown", "1.5": "other",
    "1.7": "blocked", "1.8": "blocked", "2.0": "other", "2.1": "disabled", "2.4": "system_error", "3.1": "system_error",
    "3.2": "system_error", "4.0": "system_error", "4.1": "system_error", "4.2": "system_error",
    "4.3": "system_error", "4.4": "host_unknown", "4.5": "rate_limited", "4.6": "system_error",
    "5.3": "rate_limited", "7.1": "blocked", "7.8": "auth_failed", "7.9": "auth_failed",
}  # fmt: skip
_REPLY_CODES = {
    "550": "user_unknown", "551": "user_unknown", "553": "user_unknown", "552": "mailbox_full",
    "554": "blocked", "452": "mailbox_full", "421": "system_error", "450": "system_error",
    "451": "system_error", "501": "other", "503": "other",
}  # fmt: skip


def text_reason(text: str) -> str | None:
    """The cause the diagnostic text names, if any."""
    for reason, pattern in _TEXT_RULES:
        if pattern.search(text):
            return reason
    return None


def reason_of(status: str | None, reply_code: str | None, text: str, *, final: bool = True) -> str:
    """The reason for one recipient's failure.

    `status` is its enhanced code (`5.1.1`), `reply_code` its SMTP code (`550`), `text`
    the diagnostic words; `final` is False for a report that the sender will retry."""
    detail = ".".join(status.split(".")[1:]) if status else None
    if detail in _DECISIVE_STATUS and not (detail == "4.7" and not final):
        decisive = _DECISIVE_STATUS[detail]
        worded = text_reason(text)
        # "5.1.1 … blocked" is still no such user; but "5.1.1 mailbox full" is the text's.
        if worded in ("mailbox_full", "disabled", "too_large") and decisive in HARD_REASONS:
            return worded
        return decisive
    worded = text_reason(text)
    if worded is not None:
        if worded == "system_error" and status and status.startswith("4") and final:
            return "expired"
        return worded
    if detail is not None:
        if detail in _STATUS_DETAIL:
            return _STATUS_DETAIL[detail]
        subject = detail.split(".", 1)[0]
        if subject in _STATUS_SUBJECT and detail.split(".")[1] != "0":
            return _STATUS_SUBJECT[subject]
    if reply_code in _REPLY_CODES:
        return _REPLY_CODES[reply_code]
    if status and status.startswith("4") and final:
        return "expired"
    # A receiving system that refuses an address for good and gives no cause: in practice
    # (Exchange's bare "Delivery to the following recipients failed", qmail's empty
    # "<addr>:") that mailbox does not exist there.
    if final and (
        (status or "").startswith("5") or (reply_code or "").startswith("5") or _PERMANENT.search(text)
    ):
        return "user_unknown"
    return "other"


_PERMANENT = re.compile(r"permanent|(?<!non-)fatal|failed permanently|hard bounce", re.I)


# Amazon SES's bounceSubType, where it names the cause (by email through SNS, or exported).
_SES_SUBTYPES = {
    "NoEmail": "user_unknown", "MailboxFull": "mailbox_full", "MessageTooLarge": "too_large",
    "ContentRejected": "blocked", "AttachmentRejected": "blocked", "OnAccountSuppressionList": "user_unknown",
}  # fmt: skip


def ses_reason(subtype: str, *, permanent: bool) -> str | None:
    """The reason an SES bounce's subtype names; SES's own suppression list holds only
    addresses that bounced hard before."""
    if subtype == "Suppressed":
        return "user_unknown" if permanent else None
    return _SES_SUBTYPES.get(subtype)


def is_hard(reason: str) -> bool:
    return reason in HARD_REASONS


def first_status(text: str) -> str | None:
    """The first failure status (4.x.x or 5.x.x) in the text; a 2.x.x or a number within a
    software version (2.0.13.4) is not one."""
    for match in STATUS.finditer(text):
        if match.group(1) in "45" and not _SOFTWARE.search(text[max(0, match.start() - 30) : match.start()]):
            return match.group(0)
    return None


# What stands before a software version ("Postfix 3.5.6", "version 5.0.1", "Exim/4.96.1").
_SOFTWARE = re.compile(
    r"(?:version|ver\.?|v|release|postfix|exim|sendmail|qmail|courier|zimbra|mdaemon|imail|exchange|"
    r"dovecot|build|release)[ /:-]*\(?$", re.I
)


def first_reply_code(text: str) -> str | None:
    with_status = REPLY_WITH_STATUS.search(text)
    if with_status and with_status.group(1)[0] in "45":
        return with_status.group(1)
    for match in REPLY_CODE.finditer(text):
        if match.group(1)[0] in "45":
            return match.group(1)
    return None
