"""The return date in an out-of-office reply, in English, German, French and Spanish.

"Back on 7 December", "out until Friday", "bis einschließlich 04.12.2026", "de retour le
8 décembre", "hasta el 7 de diciembre". A date after "until"/"bis"/"jusqu'au"/"hasta" is
the last day away, so the contact is back the day after; a date after "back"/"zurück"/
"de retour"/"de vuelta" is the day itself. Dates without a year are the next such date
after the message was received (within half a year). Numeric dates are day first, except in English text
written month/day (US style) when that is the only valid reading.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

_MONTHS = {
    1: "january jan januar janv janvier enero ene",
    2: "february feb februar fev fevr fevrier febrero",
    3: "march mar marz maerz mars marzo",
    4: "april apr avril avr abril abr",
    5: "may mai mayo",
    6: "june jun juni juin junio",
    7: "july jul juli juillet juil julio",
    8: "august aug aout agosto ago",
    9: "september sep sept septembre septiembre setiembre",
    10: "october oct oktober okt octobre octubre",
    11: "november nov novembre noviembre",
    12: "december dec dezember dez decembre diciembre dic",
}
MONTH_NAMES = {name: number for number, names in _MONTHS.items() for name in names.split()}
_WEEKDAYS = {
    0: "monday mon montag lundi lunes",
    1: "tuesday tue tues dienstag mardi martes",
    2: "wednesday wed mittwoch mercredi miercoles",
    3: "thursday thu thurs donnerstag jeudi jueves",
    4: "friday fri freitag vendredi viernes",
    5: "saturday sat samstag sonnabend samedi sabado",
    6: "sunday sun sonntag dimanche domingo",
}
WEEKDAY_NAMES = {name: number for number, names in _WEEKDAYS.items() for name in names.split()}

# (pattern, days to add to the date found): "until X" means back the day after X.
_UNTIL = (
    r"until|till|through|thru|up to and including|"
    r"bis (?:einschlie(?:ss|ß)lich|inklusive|zum|am)?|"
    r"jusqu'?(?:au|à|a)|jusqu ?au|"
    r"hasta (?:el)?"
)
_BACK = (
    r"back (?:in (?:the )?office )?(?:on|from)?|return(?:ing)? (?:to (?:the|my) (?:office|desk) )?(?:on)?|"
    r"returns? (?:on)?|in the office (?:again )?(?:on|from)|available (?:again )?(?:on|from)|"
    r"zur(?:ü|ue)ck (?:am|ab)?|wieder (?:im b(?:ü|ue)ro |erreichbar |da )?(?:am|ab)|ab dem|ab|"
    r"de retour (?:le|à partir du)?|retour (?:le|prévu le)?|à partir du|a partir du|"
    r"de vuelta (?:el)?|regreso (?:el)?|regresar(?:é|e) (?:el)?|volver(?:é|e) (?:el)?|a partir del"
)

_MONTH_WORD = "|".join(sorted(MONTH_NAMES, key=len, reverse=True))
_WEEKDAY_WORD = "|".join(sorted(WEEKDAY_NAMES, key=len, reverse=True))
_DATE = re.compile(
    rf"^(?:(?:{_WEEKDAY_WORD})\.?,?\s+(?:(?:the|le|el|den|dem)\s+)?)?(?:"
    rf"(?P<iso>(?P<iy>\d{{4}})-(?P<im>\d{{1,2}})-(?P<id>\d{{1,2}}))"
    rf"|(?P<num>(?P<n1>\d{{1,2}})[./](?P<n2>\d{{1,2}})(?:[./](?P<ny>\d{{2,4}}))?)"
    rf"|(?P<dm>(?P<dd>\d{{1,2}})(?:st|nd|rd|th|er|º|\.)?\s+(?:de\s+|of\s+)?(?P<dmon>{_MONTH_WORD})\.?(?:,?\s+(?:de\s+)?(?P<dy>\d{{4}}))?)"
    rf"|(?P<md>(?P<mmon>{_MONTH_WORD})\.?\s+(?P<md_d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<my>\d{{4}}))?)"
    rf"|(?P<wd>{_WEEKDAY_WORD})\b"
    rf")",
    re.I,
)
_ENGLISH = re.compile(r"\b(the|and|until|back|office|will|return)\b", re.I)


def _fold(text: str) -> str:
    """Lower case without accents, so 'März', 'décembre' and 'miércoles' match plain names."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\u2019", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


# The cues are folded like the text they search.
_CUE = re.compile(rf"\b(?:(?P<until>{_fold(_UNTIL)})|(?P<back>{_fold(_BACK)}))\s*", re.I)


def return_date(text: str, received: date | None) -> date | None:
    """The first day the writer is back, or None when the text names no date."""
    if received is None:
        return None
    folded = _fold(text)
    english = bool(_ENGLISH.search(folded))
    for cue in _CUE.finditer(folded):
        found = _date_at(folded[cue.end() : cue.end() + 60], received, english)
        if found is None:
            continue
        back = found + timedelta(days=1) if cue.group("until") else found
        if back > received:
            return back
    return None


def _date_at(text: str, received: date, english: bool) -> date | None:
    match = _DATE.match(text.strip())
    if match is None:
        return None
    try:
        if match.group("iso"):
            return date(int(match.group("iy")), int(match.group("im")), int(match.group("id")))
        if match.group("num"):
            first, second = int(match.group("n1")), int(match.group("n2"))
            day, month = (
                (second, first) if english and first <= 12 and "/" in match.group("num") else (first, second)
            )
            if month > 12 and day <= 12:
                day, month = month, day
            return _with_year(day, month, match.group("ny"), received)
        if match.group("dm"):
            return _with_year(
                int(match.group("dd")), MONTH_NAMES[match.group("dmon").lower()], match.group("dy"), received
            )
        if match.group("md"):
            return _with_year(
                int(match.group("md_d")),
                MONTH_NAMES[match.group("mmon").lower()],
                match.group("my"),
                received,
            )
        weekday = WEEKDAY_NAMES[match.group("wd").lower()]
        return received + timedelta(days=(weekday - received.weekday() - 1) % 7 + 1)
    except (ValueError, KeyError):
        return None


def _with_year(day: int, month: int, year: str | None, received: date) -> date | None:
    if year is not None:
        number = int(year)
        return date(number + 2000 if number < 100 else number, month, day)
    candidate = date(received.year, month, day)
    if candidate < received:
        candidate = date(received.year + 1, month, day)
    # "back on 1 November" read in late November is a date gone by, not one 11 months away.
    return candidate if candidate - received <= timedelta(days=183) else None
