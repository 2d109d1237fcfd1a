"""Dates in the debtor's words, resolved against the debtor's own `today`.

Relative dates ("next Friday", "sexta que vem", "el viernes que viene", "venerdì prossimo")
are resolved against the `today` the caller passes: the debtor's local date, not the
server's. Whether "03/04" is March 4 or 3 April depends on the debtor's country
(`month_first_for`), never on the language they write in: English in Dublin is day-first.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from actions.parsing.text import fold

# Countries whose everyday numeric dates put the month first. The United States and the
# places that follow its conventions (territories, the Compact states) and the Philippines.
# Canada is left out on purpose: its official short form is year-month-day (read
# unambiguously anyway), French speakers write day-month, and English usage is mixed, so the
# day-first default plus "an impossible order falls back to the other" serves it best.
MONTH_FIRST_COUNTRIES = frozenset(
    {"US", "PR", "GU", "VI", "AS", "MP", "UM", "FM", "MH", "PW", "PH"}
)

WEEKDAYS = {
    # Monday = 0, as date.weekday(); "sabado" is Portuguese and Spanish, "sabato" Italian.
    "segunda": 0, "terca": 1, "quarta": 2, "quinta": 3, "sexta": 4, "sabado": 5,
    "domingo": 6, "lunes": 0, "martes": 1, "miercoles": 2, "jueves": 3, "viernes": 4,
    "lunedi": 0, "martedi": 1, "mercoledi": 2, "giovedi": 3, "venerdi": 4, "sabato": 5,
    "domenica": 6, "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
    "saturday": 5, "sunday": 6,
}  # fmt: skip

# Abbreviations people type. Left out because they are also common words: "mar" (Spanish and
# Italian Tuesday, but also "sea" and March), "ter" (Portuguese Tuesday, the verb "to have"),
# "qua"/"qui" (Portuguese Wednesday/Thursday, Italian "here"), "mi" (Spanish Wednesday, "my").
WEEKDAY_ABBREVIATIONS = {
    "seg": 0, "sex": 4, "sab": 5, "dom": 6, "lun": 0, "mie": 2, "mier": 2, "jue": 3,
    "vie": 4, "mer": 2, "gio": 3, "ven": 4, "mon": 0, "tue": 1, "tues": 1, "wed": 2,
    "thu": 3, "thur": 3, "thurs": 3, "fri": 4, "sat": 5, "sun": 6,
}  # fmt: skip

MONTHS = {
    "janeiro": 1, "fevereiro": 2, "marco": 3, "abril": 4, "maio": 5, "junho": 6, "julho": 7,
    "agosto": 8, "setembro": 9, "outubro": 10, "novembro": 11, "dezembro": 12,
    "enero": 1, "febrero": 2, "marzo": 3, "mayo": 5, "junio": 6, "julio": 7, "septiembre": 9,
    "setiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12,
    "gennaio": 1, "febbraio": 2, "aprile": 4, "maggio": 5, "giugno": 6, "luglio": 7,
    "settembre": 9, "ottobre": 10, "novembre": 11, "dicembre": 12,
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "ene": 1, "gen": 1, "feb": 2, "fev": 2, "apr": 4, "abr": 4, "mai": 5,
    "mag": 5, "jun": 6, "giu": 6, "jul": 7, "lug": 7, "aug": 8, "ago": 8, "sep": 9, "sept": 9,
    "sett": 9, "oct": 10, "ott": 10, "nov": 11, "dec": 12, "dic": 12,
}  # fmt: skip
# Month abbreviations that are also ordinary words ("mar" sea, "set", "out", "dez" ten) are
# read only right after a day: "15 mar", "15 de out", "15/dez"; never "out 15".
MONTHS_AFTER_DAY_ONLY = {"mar": 3, "set": 9, "out": 10, "dez": 12}

_RELATIVE = [
    (r"depois de amanha|pasado manana|dopodomani|day after tomorrow", 2),
    (r"anteontem|anteayer|(?:l\W?)?altro ieri|day before yesterday", -2),
    (r"amanha|amnh|manana|domani|tomorrow|tomorow|tommorow|tommorrow|tmrw|tmr", 1),
    (r"ontem|ayer|ieri|yesterday", -1),
    (r"hoje|hj|hoy|oggi|today", 0),
]
_NEXT = r"que vem|que viene|proxim[oa]|prossim[oa]|next"
_LAST = r"passad[oa]|pasad[oa]|scors[oa]|last"
_DAY_UNITS = {"dia": 1, "dias": 1, "giorno": 1, "giorni": 1, "day": 1, "days": 1, "semana": 7,
              "semanas": 7, "settimana": 7, "settimane": 7, "week": 7, "weeks": 7}  # fmt: skip

_YEAR = r"(?:1[89]|2[01])\d{2}"  # 1800 to 2199
_NUMERIC = re.compile(
    r"(?<![\d.,])(\d{1,2})([/.-])(\d{1,2})(?:\2(" + _YEAR + r"|\d{2}))?(?![\d]|[.,]\d|[a-z])"
)
_ISO = re.compile(r"(?<![\d.,])(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_ORDINAL = r"(?:st|nd|rd|th|o)?"
_DAY_WORDS = r"dia|el|il|giorno|day|on the|by the|until the|before the"


def _names(names) -> str:
    return "|".join(sorted(names, key=len, reverse=True))


_DAY_MONTH = re.compile(
    rf"\b(\d{{1,2}}){_ORDINAL}(?:\s+de\s+|\s+of\s+|\s*[/-]\s*|\s+)"
    rf"({_names([*MONTHS, *MONTHS_AFTER_DAY_ONLY])})\b\.?(?!\s+of\b)"
    rf"(?:(?:\s+de\s+|\s*[/-]\s*|,?\s+)({_YEAR})\b|(?:\s+de\s+|\s*[/-]\s*)(\d{{2}})\b)?"
)
_MONTH_DAY = re.compile(
    rf"\b({_names(MONTHS)})\b\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+({_YEAR})\b)?"
)
_DAY_OF_MONTH = re.compile(
    rf"\b(?:{_DAY_WORDS})\s+(\d{{1,2}})(?:st|nd|rd|th|o)?\b(?!\s*[.,]?\d)"
    r"|\b(\d{1,2})(?:st|nd|rd|th)\b"
)
_IN_DAYS = re.compile(
    r"\b(?:em|en|tra|fra|in|dentro de|daqui a|daqui|within)\s+(\d{1,3})\s+([a-z]+)"
)
_DAYS_AGO = re.compile(
    r"\b(?:ha|hace)\s+(\d{1,3})\s+([a-z]+)|\b(\d{1,3})\s+([a-z]+)\s+(?:fa|ago|atras)\b"
)


def month_first_for(country: str | None) -> bool:
    """Whether people in this country (ISO 3166 alpha-2) write the month before the day.

    Unknown countries read day-first, as most of the world does.
    """
    return (country or "").strip().upper() in MONTH_FIRST_COUNTRIES


def parse_date(
    text: str, *, today: date, month_first: bool = False, past: bool = False
) -> date | None:
    """A date in the debtor's words, resolved against their `today`; None if there is none.

    `month_first` reads "03/04" as March 4 (see `month_first_for`) instead of 3 April; an
    order that gives an impossible date falls back to the other ("14/03"). Dates given
    without a year (or only a weekday) are the next such day, or with `past` the last one:
    "dia 20" promised is this month's 20th if still ahead; "dia 20" paid is the last 20th.
    """
    folded = fold(text)
    return (
        _relative_day(folded, today)
        or _numeric_date(folded, today, month_first, past)
        or _named_month_date(folded, today, past)
        or _weekday(folded, today, past)
        or _in_days(folded, today)
        or _day_of_month(folded, today, past)
    )


def date_spans(folded: str) -> list[tuple[int, int]]:
    """Where the folded text speaks of a day or date: numbers there are not money."""
    patterns = (_ISO, _DAY_MONTH, _MONTH_DAY, _DAY_OF_MONTH)
    spans = [m.span() for pattern in patterns for m in pattern.finditer(folded)]
    spans += [span for span, _ in _offsets(folded)]
    # Only slashes, dashes or a full d.m.y are dates here: "12.50" is money.
    for match in _NUMERIC.finditer(folded):
        if match.group(2) != "." or match.group(4):
            spans.append(match.span())
    return spans


def _relative_day(folded: str, today: date) -> date | None:
    for pattern, days in _RELATIVE:
        if re.search(rf"\b(?:{pattern})\b", folded):
            return today + timedelta(days=days)
    return None


def _full_year(year: int, today: date) -> int:
    """Two-digit years: "88" is 1988 and "27" is 2027 (up to ten years ahead)."""
    if year >= 100:
        return year
    return 2000 + year if 2000 + year <= today.year + 10 else 1900 + year


def _numeric_date(folded: str, today: date, month_first: bool, past: bool) -> date | None:
    iso = _ISO.search(folded)
    if iso:
        return _safe_date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    for match in _NUMERIC.finditer(folded):
        first, second = int(match.group(1)), int(match.group(3))
        orders = (
            [(first, second), (second, first)]
            if month_first
            else [(second, first), (first, second)]
        )
        for month, day in orders:  # the other order when the usual one is impossible
            if match.group(4):
                found = _safe_date(_full_year(int(match.group(4)), today), month, day)
            else:
                found = _nearest(today, month, day, past)
            if found:
                return found
    return None


def _named_month_date(folded: str, today: date, past: bool) -> date | None:
    day_first = _DAY_MONTH.search(folded)
    month_first = _MONTH_DAY.search(folded)
    if day_first and (not month_first or day_first.start() <= month_first.start()):
        day = int(day_first.group(1))
        name = day_first.group(2)
        month = MONTHS.get(name) or MONTHS_AFTER_DAY_ONLY[name]
        year = day_first.group(3) or day_first.group(4)
    elif month_first:
        month, day = MONTHS[month_first.group(1)], int(month_first.group(2))
        year = month_first.group(3)
    else:
        return None
    if year:
        return _safe_date(_full_year(int(year), today), month, day)
    return _nearest(today, month, day, past)


def _weekday_match(folded: str) -> tuple[re.Match, int] | None:
    """The first weekday named in full, else the first abbreviation ("sex", "fri.")."""
    numbered = re.search(r"\b([2-6])\s?a?\s?-?\s?feira\b", folded)  # "6a feira", "2ª-feira"
    if numbered:
        return numbered, int(numbered.group(1)) - 2
    for table in (WEEKDAYS, WEEKDAY_ABBREVIATIONS):
        match = re.search(rf"\b({_names(table)})\b(?:\.|-feira| feira)?", folded)
        if match:
            return match, table[match.group(1)]
    return None


def _weekday(folded: str, today: date, past: bool) -> date | None:
    found = _weekday_match(folded)
    if found is None:
        return None
    match, weekday = found
    # "next"/"last" count only next to the weekday: "last time I paid 300, friday ok?"
    around = " ".join(folded[: match.start()].split()[-2:] + folded[match.end() :].split()[:2])
    if past or re.search(rf"\b(?:{_LAST})\b", around):
        # "sexta passada", "last Friday": the most recent one before today
        return today - timedelta(days=(today.weekday() - weekday) % 7 or 7)
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 or re.search(rf"\b(?:{_NEXT})\b", around):
        # "sexta que vem" said on a Monday is this Friday in everyday speech, and next
        # week's Friday when said on a Friday or weekend: never today.
        ahead = ahead or 7
    return today + timedelta(days=ahead)


def _in_days(folded: str, today: date) -> date | None:
    for _, days in _offsets(folded):
        return today + timedelta(days=days)
    return None


def _offsets(folded: str) -> list[tuple[tuple[int, int], int]]:
    """Days from today said as "em 10 dias" (+10), "3 days ago" (-3), with their spans."""
    found = []
    for match in _IN_DAYS.finditer(folded):
        if match.group(2) in _DAY_UNITS:
            found.append((match.span(), int(match.group(1)) * _DAY_UNITS[match.group(2)]))
    for match in _DAYS_AGO.finditer(folded):
        count, unit = match.group(1) or match.group(3), match.group(2) or match.group(4)
        if unit in _DAY_UNITS:
            found.append((match.span(), -int(count) * _DAY_UNITS[unit]))
    return sorted(found)


def _day_of_month(folded: str, today: date, past: bool) -> date | None:
    match = _DAY_OF_MONTH.search(folded)
    if not match:
        return None
    day = int(match.group(1) or match.group(2))
    for offset in (0, -1, -2) if past else (0, 1, 2):  # this month, else the next/last one
        month_index = today.month - 1 + offset
        candidate = _safe_date(today.year + month_index // 12, month_index % 12 + 1, day)
        if candidate and (candidate <= today if past else candidate >= today):
            return candidate
    return None


def _nearest(today: date, month: int, day: int, past: bool) -> date | None:
    """The day and month in this year, or the next (or, with `past`, the previous) year."""
    candidate = _safe_date(today.year, month, day)
    if candidate is None:
        return None
    if past and candidate > today:
        return _safe_date(today.year - 1, month, day)
    if not past and candidate < today:
        return _safe_date(today.year + 1, month, day)
    return candidate


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
