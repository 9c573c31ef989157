"""The return date in an out-of-office reply, in English, German, French, Spanish,
Italian, Portuguese and Dutch.

"Back on 7 December", "out until Friday", "bis einschließlich 04.12.2026", "de retour le
8 décembre", "hasta el 7 de diciembre". A date after "until"/"bis"/"jusqu'au"/"hasta" is
the last day away, so the contact is back the day after; a date after "back"/"zurück"/
"de retour"/"de vuelta" is the day itself. A date after "out of the
office"/"away"/"traveling" is a day away ("out of the office Friday": back the day after).
A range ("July 10-31", "10.-31. Juli", "from 10 to 14 December") ends on its last day away.
Dates without a year are the next such date after the message was received (within half a year). Numeric dates are day first, except in English text
written month/day (US style) when that is the only valid reading.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

_MONTHS = {
    1: "january jan januar janv janvier enero ene gennaio janeiro januari",
    2: "february feb februar fev fevr fevrier febrero febbraio fevereiro februari",
    3: "march mar marz maerz mars marzo marco maart",
    4: "april apr avril avr abril abr aprile",
    5: "may mai mayo maggio maio mei",
    6: "june jun juni juin junio giugno junho",
    7: "july jul juli juillet juil julio luglio julho",
    8: "august aug aout agosto ago augustus",
    9: "september sep sept septembre septiembre setiembre settembre setembro",
    10: "october oct oktober okt octobre octubre ottobre outubro",
    11: "november nov novembre noviembre novembro",
    12: "december dec dezember dez decembre diciembre dic dicembre dezembro",
}
MONTH_NAMES = {name: number for number, names in _MONTHS.items() for name in names.split()}
_WEEKDAYS = {
    0: "monday mon montag lundi lunes lunedi segunda-feira maandag",
    1: "tuesday tue tues dienstag mardi martes martedi terca-feira dinsdag",
    2: "wednesday wed mittwoch mercredi miercoles mercoledi quarta-feira woensdag",
    3: "thursday thu thurs donnerstag jeudi jueves giovedi quinta-feira donderdag",
    4: "friday fri freitag vendredi viernes venerdi sexta-feira vrijdag",
    5: "saturday sat samstag sonnabend samedi sabato sabado zaterdag",
    6: "sunday sun sonntag dimanche domingo domenica zondag",
}
WEEKDAY_NAMES = {name: number for number, names in _WEEKDAYS.items() for name in names.split()}

# (pattern, days to add to the date found): "until X" means back the day after X.
_UNTIL = (
    r"until|till|through|thru|up to and including|"
    r"bis (?:einschlie(?:ss|ß)lich|inklusive|zum|am)?|"
    r"jusqu'?(?:au|à|a)|jusqu ?au|"
    r"hasta (?:el)?|"
    r"fino (?:al|a)|sino al|"
    r"at[ée] (?:(?:o|ao) dia |dia )?|"
    r"tot en met|t/m|tot"
)
# A day away: "out of the office Friday", "traveling July 10-31".
_AWAY = (
    r"out of (?:the )?office(?: on| from| until| till)?|away(?: on| from| until)?|travel(?:l)?ing(?: on| from)?|"
    r"on (?:vacation|holiday|leave|pto)(?: on| from| until)?|off (?:on|from)|\booo(?: on)?|"
    r"abwesend(?: am| vom)?|nicht im b(?:ü|ue)ro(?: am| vom)?|en cong[ée](?: le| du)?|absente? (?:le|du)?|"
    r"fuera de la oficina(?: el| del)?|fuori (?:dall')?ufficio(?: il| dal)?|assente(?: il| dal)?|"
    r"fora do escrit[óo]rio(?: em| de| no dia)?|ausente(?: em| de| el| del)?|afwezig(?: op| van)?|niet op kantoor(?: op| van)?"
)
_BACK = (
    r"back (?:in (?:the )?office )?(?:on|from)?|return(?:ing)? (?:to (?:the|my) (?:office|desk) )?(?:on)?|"
    r"returns? (?:on)?|in the office (?:again )?(?:on|from)|available (?:again )?(?:on|from)|"
    r"zur(?:ü|ue)ck (?:am|ab)?|wieder (?:im b(?:ü|ue)ro |erreichbar |da )?(?:am|ab)|ab dem|ab|"
    r"de retour (?:le|à partir du)?|retour (?:le|prévu le)?|à partir du|a partir du|"
    r"de vuelta (?:el)?|regreso (?:el)?|regresar(?:é|e) (?:el)?|volver(?:é|e) (?:el)?|a partir del|"
    r"di ritorno (?:il)?|rientrer(?:ò|o) (?:in ufficio )?(?:il)?|rientro (?:in ufficio )?(?:il|previsto il)?|torner(?:ò|o) (?:il)?|"
    r"di nuovo in ufficio (?:il|dal)?|a partire dal|"
    r"retorno (?:em|no dia|dia)?|voltarei (?:em|no dia)?|estarei de volta (?:em|no dia)?|a partir de|"
    r"terug op|weer aanwezig (?:op|vanaf)?|weer op kantoor (?:op|vanaf)?|vanaf"
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
_CUE = re.compile(
    rf"\b(?:(?P<away>{_fold(_AWAY)})|(?P<until>{_fold(_UNTIL)})|(?P<back>{_fold(_BACK)}))\s*", re.I
)
# Ranges of days away: "july 10-31", "10.-31. juli", "10 - 31 de julio".
_RANGE = re.compile(
    rf"\b(?:(?P<m1>{_MONTH_WORD})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\s*(?:-|–|to|through|till|until)\s*(?P<d1>\d{{1,2}})\b"
    rf"|\d{{1,2}}\.?\s*(?:-|–|to|bis|au|al|a|tot|t/m)\s*(?P<d2>\d{{1,2}})\.?\s+(?:de\s+|of\s+)?(?P<m2>{_MONTH_WORD})\b)"
    rf"(?:,?\s+(?:de\s+)?(?P<y>\d{{4}}))?",
    re.I,
)
# Between two dates: the second is the last day away.
_BETWEEN = re.compile(r"\s*(?:-|–|to|through|thru|till|until|bis|au|al|a|hasta|fino al|ate|tot(?: en met)?|t/m)\s+", re.I)


def return_date(text: str, received: date | None) -> date | None:
    """The first day the writer is back, or None when the text names no date."""
    if received is None:
        return None
    folded = _fold(text)
    english = bool(_ENGLISH.search(folded))
    for span in _RANGE.finditer(folded):
        month = MONTH_NAMES[(span.group("m1") or span.group("m2")).lower()]
        try:
            last = _with_year(int(span.group("d1") or span.group("d2")), month, span.group("y"), received)
        except ValueError:
            continue
        if last is not None and last >= received:
            return last + timedelta(days=1)
    for cue in _CUE.finditer(folded):
        window = folded[cue.end() : cue.end() + 80]
        found = _date_at(window, received, english)
        if found is None:
            continue
        if not cue.group("back"):
            found = _range_end(window, found, received, english)
        back = found if cue.group("back") else found + timedelta(days=1)
        if back > received:
            return back
    return None


def _range_end(window: str, first: date, received: date, english: bool) -> date:
    """The last day of "12/10/2026 - 12/14/2026", "1 to 4 December": else the date itself."""
    start = _DATE.match(window.strip())
    if start is None:
        return first
    offset = len(window) - len(window.lstrip()) + start.end()
    between = _BETWEEN.match(window, offset)
    if between is None:
        return first
    second = _date_at(window[between.end() :], received, english)
    return second if second is not None and second >= first else first


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
