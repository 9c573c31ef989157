"""The words of delivery reports: how their subjects and texts say that a message failed,
is delayed, was delivered, or that the mail system itself is writing.

Kept apart from `bounces` (which reads a report's structure) so the phrase lists, which
grow with every MTA met in the wild, can be read and extended on their own.
"""

from __future__ import annotations

import re

SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status )?notification|returned mail|failure notice|"
    r"delivery (?:has )?fail|(?:delivery|mail) (?:problem|failure|error|report|warning)|non-?deliver|"
    r"could not (?:be )?(?:sent|delivered|deliver)|unable to deliver|not delivered|permanent (?:delivery )?(?:failure|error)|"
    r"failed mail|mail system error|delivery status|returned to sender|message (?:status|delivery)|delayed mail|"
    r"warning: (?:message|could not)|delivery delayed|mail delivery|failed delivery|error sending|"
    r"return(?:ing|ed)? to sender|mail failed|automatically rejected|"
    r"unzustellbar|nicht zustellbar|non remis|no se (?:puede|pudo) entregar|non recapitabile|mancata consegna|"
    r"não entregue|onbestelbaar|niet (?:afgeleverd|bezorgd)|недостав|не доставлен|配信|不能|エラー|user unknown",
    re.I,
)
# From the mail system itself, plainer words suffice.
SUBJECT_FROM_DAEMON = re.compile(r"error|fail|returned|rejected|warning|problem|not delivered|delay", re.I)
BODY = re.compile(
    r"could(?: not|n'?t) be (?:delivered|sent)|was(?: not|n'?t) delivered|were not delivered|not (?:be )?delivered to|"
    r"undeliverable|delivery (?:to the following recipients? )?(?:has )?failed|permanent(?:ly)? (?:fatal )?error|"
    r"(?<!non-)fatal errors?|did not reach|unable to deliver|failed to deliver|could(?: not|n'?t) deliver|"
    r"following (?:address|recipient)(?:e?s|\(e?s\))? (?:failed|had)|(?:not|wasn'?t) able to deliver|"
    r"returned to (?:the )?sender|has not (?:yet )?been delivered|delivery (?:is |has been )?delayed|"
    r"this is the (?:qmail|mail system|postfix)|delivery status notification|no such user|user unknown|"
    r"mailbox (?:is )?(?:full|unavailable)|address rejected|not delivered within|message (?:was )?rejected|"
    r"did not receive (?:a copy of )?(?:your|this) message|delivery failure|was undeliverable|"
    r"nicht zugestellt|n'a pas pu (?:être|etre) (?:remis|d[ée]livr)|no (?:se )?(?:ha )?podido (?:ser )?entregad|"
    r"non è stato (?:possibile|recapitato)|não foi possível entregar|kon niet worden (?:afgeleverd|bezorgd)|"
    r"delivery attempts? (?:failed|will continue)|delivery to the following|"
    r"(?:mail|message) (?:has been|was) returned|returned mail|automatically rejected|intended recipient|"
    r"has been postponed|delivery of (?:e-?mail|your message)",
    re.I,
)
DELAY = re.compile(
    r"warning (?:message )?only|do not need to resend|will (?:keep|continue (?:to )?)?(?:re)?tr(?:y|ying)|"
    r"will be retried|is being retried|still (?:being )?(?:tried|retried|undelivered|trying)|transient non-fatal|"
    r"has been delayed|delivery (?:is |has been )?delayed|not yet been delivered|delayed mail|"
    r"no action is required|will attempt (?:to )?deliver|advisory[- ]only|delivery (?:has been )?postponed|"
    r"has been postponed|status notification \(delay\)|message delayed|zustellung verzögert|retardé|"
    r"attempts will continue|will continue to be made|do not resend",
    re.I,
)
FINAL = re.compile(
    r"permanent|(?<!non-)fatal|gave up|giving up|not going to try again|no (?:further|more) (?:delivery )?attempts|"
    r"has been removed from|too long in (?:the )?queue|in the queue too long|retry time(?:out)? (?:not reached|exceeded)|"
    r"delivery time (?:has )?expired|not delivered within|deleted|has been returned|will not be (?:re)?tried",
    re.I,
)
SUCCESS = re.compile(
    r"(?:was|has been|have been) (?:successfully )?delivered|delivery (?:to the following recipients? )?"
    r"(?:was |has been )?(?:successful|succeeded|complete)|status notification \(success\)|delivery receipt",
    re.I,
)
DAEMON_NAME = re.compile(
    r"mail delivery (?:sub)?system|mailer[-_ ]?daemon|post ?master|system administrator|mail administrator|"
    r"delivery status|mail(?:er)? system|automated response|microsoft outlook|microsoft exchange",
    re.I,
)
