"""Reading amounts, installment counts and dates out of what debtors type, in four languages.

Plain functions with no Rasa dependency, so the action server (Rasa environment) and the
tests (application environment) import the same code. Relative dates ("next Friday", "sexta
que vem", "el viernes que viene", "venerdì prossimo") are resolved against the `today` the
caller passes: the debtor's local date, not the server's.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

NUMBER_WORDS = {
    # pt
    "um": 1,
    "uma": 1,
    "dois": 2,
    "duas": 2,
    "tres": 3,
    "quatro": 4,
    "cinco": 5,
    "seis": 6,
    "sete": 7,
    "oito": 8,
    "nove": 9,
    "dez": 10,
    "onze": 11,
    "doze": 12,
    "quinze": 15,
    "dezoito": 18,
    "vinte": 20,
    "vinte e quatro": 24,
    "trinta": 30,
    # es
    "uno": 1,
    "una": 1,
    "dos": 2,
    "cuatro": 4,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
    "diez": 10,
    "doce": 12,
    "quince": 15,
    "dieciocho": 18,
    "veinte": 20,
    "veinticuatro": 24,
    # it
    "due": 2,
    "tre": 3,
    "sei": 6,
    "sette": 7,
    "otto": 8,
    "dieci": 10,
    "dodici": 12,
    "diciotto": 18,
    "venti": 20,
    "ventiquattro": 24,
    # en
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "fifteen": 15,
    "eighteen": 18,
    "twenty": 20,
    "twenty four": 24,
    "twenty-four": 24,
}

WEEKDAYS = {
    # Monday = 0, as date.weekday()
    "segunda": 0,
    "terca": 1,
    "quarta": 2,
    "quinta": 3,
    "sexta": 4,
    "sabado": 5,
    "domingo": 6,
    "lunes": 0,
    "martes": 1,
    "miercoles": 2,
    "jueves": 3,
    "viernes": 4,
    "lunedi": 0,
    "martedi": 1,
    "mercoledi": 2,
    "giovedi": 3,
    "venerdi": 4,
    "domenica": 6,
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}

MONTHS = {
    "janeiro": 1, "fevereiro": 2, "marco": 3, "abril": 4, "maio": 5, "junho": 6, "julho": 7,
    "agosto": 8, "setembro": 9, "outubro": 10, "novembro": 11, "dezembro": 12,
    "enero": 1, "febrero": 2, "marzo": 3, "mayo": 5, "junio": 6, "julio": 7, "septiembre": 9,
    "setiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12,
    "gennaio": 1, "febbraio": 2, "aprile": 4, "maggio": 5, "giugno": 6, "luglio": 7,
    "settembre": 9, "ottobre": 10, "novembre": 11, "dicembre": 12,
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    # Abbreviations people type; where languages share one, it is the same month. ("mar",
    # "set" and "out" are left out: they are also ordinary words.)
    "jan": 1, "ene": 1, "gen": 1, "feb": 2, "fev": 2, "apr": 4, "abr": 4, "mai": 5,
    "mag": 5, "jun": 6, "giu": 6, "jul": 7, "lug": 7, "aug": 8, "ago": 8, "sep": 9, "sept": 9,
    "oct": 10, "ott": 10, "nov": 11, "dec": 12, "dez": 12, "dic": 12,
}  # fmt: skip

TODAY_WORDS = {"hoje", "hoy", "oggi", "today"}
YESTERDAY_WORDS = {"ontem", "ayer", "ieri", "yesterday"}
BEFORE_YESTERDAY = ("anteontem", "anteayer", "altro ieri", "day before yesterday")
LAST_WORDS = ("passada", "passado", "pasado", "pasada", "scorso", "scorsa", "last")
TOMORROW_WORDS = {"amanha", "manana", "domani", "tomorrow"}
AFTER_TOMORROW = ("depois de amanha", "pasado manana", "dopodomani", "day after tomorrow")
NEXT_WORDS = ("que vem", "proxima", "proximo", "que viene", "prossima", "prossimo", "next")
DAY_UNITS = {
    "dia": 1,
    "dias": 1,
    "giorno": 1,
    "giorni": 1,
    "day": 1,
    "days": 1,
    "semana": 7,
    "semanas": 7,
    "settimana": 7,
    "settimane": 7,
    "week": 7,
    "weeks": 7,
}

# Written with "." as thousands separator and "," as decimal mark (pt-BR, es, it)...
_COMMA_DECIMAL = re.compile(r"^\d{1,3}(\.\d{3})+(,\d{1,2})?$|^\d+,\d{1,2}$")
# ...or the other way round (en).
_DOT_DECIMAL = re.compile(r"^\d{1,3}(,\d{3})+(\.\d{1,2})?$|^\d+\.\d{1,2}$")
_NUMBER = re.compile(r"\d[\d.,]*")
_COUNTED = re.compile(
    r"\b(\d{1,3})\s*(?:x\b|vezes|parcelas|prestacoes|meses|cuotas|plazos|mensualidades|rate"
    r"|mesi|installments|payments|months)"
)


def fold(text: str) -> str:
    """Lower case without accents: "Março" and "marco" read the same."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def parse_amount(text: str) -> Decimal | None:
    """The first money amount in the text: "R$ 1.250,50", "€80,5", "$1,250.50", "150 reais".

    A number with "." or "," followed by three digits is read as thousands ("1.250", "1,250");
    followed by one or two digits, as decimals ("80,5", "80.50").
    """
    for match in _NUMBER.finditer(text):
        number = match.group().rstrip(".,")
        if _COMMA_DECIMAL.match(number):
            number = number.replace(".", "").replace(",", ".")
        elif _DOT_DECIMAL.match(number):
            number = number.replace(",", "")
        elif re.fullmatch(r"\d+", number) is None:
            continue
        try:
            amount = Decimal(number)
        except InvalidOperation:
            continue
        if amount > 0:
            return amount
    return None


def parse_installments(text: str) -> int | None:
    """A number of installments: "12", "12x", "em 12 vezes", "doze parcelas", "six"."""
    folded = fold(text)
    digits = _COUNTED.search(folded) or re.search(r"\b(\d{1,3})\s*x?\b", folded)
    if digits:
        count = int(digits.group(1))
        return count if count > 0 else None
    for phrase in sorted(NUMBER_WORDS, key=len, reverse=True):
        if re.search(rf"\b{re.escape(phrase.strip())}\b", folded):
            return NUMBER_WORDS[phrase]
    return None


LUMP_SUM_WORDS = (
    "vista",
    "de uma vez",
    "quitar",
    "quitação",
    "contado",
    "una vez",
    "saldar",
    "liquidar",
    "unica soluzione",
    "saldo e stralcio",
    "subito",
    "lump",
    "settle",
    "all at once",
    "one payment",
    "in full",
)


PER_MONTH = (
    "por mes",
    "ao mes",
    "cada mes",
    "al mes",
    "al mese",
    "ogni mese",
    "a month",
    "per month",
    "each month",
    "every month",
)


def interpret_plan_ask(text: str, entities: dict[str, object]) -> dict | None:
    """What a plan request asks for: a number of installments, a monthly amount or a lump sum.

    The words decide before the NLU entities do: a bare "12" is twelve installments even
    when the model tags it as an amount, and "R$ 150" or "150 reais" is money.
    """
    text = text.strip()
    folded = text.lower()
    has_money = any(sign in text for sign in ("R$", "€", "$", "£")) or any(
        word in folded for word in ("reais", "real", "euro", "dollar", "dólar", "dolar", "usd")
    )
    per_month = any(phrase in fold(text) for phrase in PER_MONTH)
    count = None if has_money or per_month else parse_installments(text)
    if count is not None and count <= 60 and "," not in text and "." not in text:
        return {"installments": count}
    amount = parse_amount(text) or parse_amount(str(entities.get("amount") or ""))
    if amount is None:
        count = parse_installments(str(entities.get("installments") or ""))
        return {"installments": count} if count else None
    if any(word in folded for word in LUMP_SUM_WORDS):
        return {"lump_sum": str(amount)}
    return {"monthly_amount": str(amount)}


def parse_date(
    text: str, *, today: date, month_first: bool = False, past: bool = False
) -> date | None:
    """A date in the debtor's words, resolved against their `today`; None if there is none.

    `month_first` reads "03/04" as March 4 (United States) instead of 3 April. Dates given
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


def _relative_day(folded: str, today: date) -> date | None:
    if any(phrase in folded for phrase in AFTER_TOMORROW):
        return today + timedelta(days=2)
    if any(phrase in folded for phrase in BEFORE_YESTERDAY):
        return today - timedelta(days=2)
    words = set(re.findall(r"[a-z]+", folded))
    if words & TOMORROW_WORDS:
        return today + timedelta(days=1)
    if words & YESTERDAY_WORDS:
        return today - timedelta(days=1)
    if words & TODAY_WORDS:
        return today
    return None


def _full_year(year: int, today: date) -> int:
    """Two-digit years: "88" is 1988 and "27" is 2027 (up to ten years ahead)."""
    if year >= 100:
        return year
    return 2000 + year if 2000 + year <= today.year + 10 else 1900 + year


def _numeric_date(folded: str, today: date, month_first: bool, past: bool) -> date | None:
    iso = re.search(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", folded)
    if iso:
        return _safe_date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    match = re.search(r"\b(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2,4}))?\b", folded)
    if not match:
        return None
    first, second = int(match.group(1)), int(match.group(2))
    orders = [(second, first), (first, second)]
    if not month_first:
        orders.reverse()
    for day, month in orders:  # the other order when the usual one is impossible ("14/03")
        if match.group(3):
            found = _safe_date(_full_year(int(match.group(3)), today), month, day)
        else:
            found = _nearest(today, month, day, past)
        if found:
            return found
    return None


def _named_month_date(folded: str, today: date, past: bool) -> date | None:
    names = "|".join(sorted(MONTHS, key=len, reverse=True))
    day_first = re.search(
        rf"\b(\d{{1,2}})(?:st|nd|rd|th|º|o)?\s+(?:de\s+|of\s+)?({names})\.?\b"
        rf"(?:\s+(?:de\s+)?(\d{{2,4}}))?",
        folded,
    )
    month_first = re.search(
        rf"\b({names})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{2,4}}))?", folded
    )
    if day_first:
        day, month, year = int(day_first.group(1)), MONTHS[day_first.group(2)], day_first.group(3)
    elif month_first:
        month, day = MONTHS[month_first.group(1)], int(month_first.group(2))
        year = month_first.group(3)
    else:
        return None
    if year:
        return _safe_date(_full_year(int(year), today), month, day)
    return _nearest(today, month, day, past)


def _weekday(folded: str, today: date, past: bool) -> date | None:
    for name, weekday in WEEKDAYS.items():
        if re.search(rf"\b{name}(?:-feira| feira)?\b", folded):
            if past or any(word in folded for word in LAST_WORDS):
                # "sexta passada", "last Friday": the most recent one before today
                return today - timedelta(days=(today.weekday() - weekday) % 7 or 7)
            ahead = (weekday - today.weekday()) % 7
            if ahead == 0 or any(word in folded for word in NEXT_WORDS):
                # "sexta que vem" said on a Monday is this Friday in everyday speech, and
                # next week's Friday when said on a Friday or weekend: never today.
                ahead = ahead or 7
            return today + timedelta(days=ahead)
    return None


def _in_days(folded: str, today: date) -> date | None:
    match = re.search(r"\b(?:em|en|tra|fra|in|dentro de)\s+(\d{1,3})\s+([a-z]+)", folded)
    if match and match.group(2) in DAY_UNITS:
        return today + timedelta(days=int(match.group(1)) * DAY_UNITS[match.group(2)])
    return None


def _day_of_month(folded: str, today: date, past: bool) -> date | None:
    match = re.search(r"\b(?:dia|el|il|the|on the|day)\s+(\d{1,2})(?:st|nd|rd|th)?\b", folded)
    if not match:
        return None
    day = int(match.group(1))
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
