"""Numbers as debtors write them: digits with either convention, words, "2 mil", "1.5k".

`read_numbers` finds every number in a tokenised message and says how it was written; it
does not decide what a number means (money, a count, a day): `amounts` does that.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from actions.parsing.text import Token, word_set

# Written with "." as thousands separator and "," as decimal mark (pt-BR, es, it)...
_COMMA_DECIMAL = re.compile(r"\d{1,3}(\.\d{3})+(,\d+)?|\d+,\d{1,2}")
# ...or the other way round (en). "1.250" and "1,250" are both thousands: a separator
# followed by exactly three digits is never read as decimals.
_DOT_DECIMAL = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?|\d+\.\d{1,2}")

_VALUES = {
    # pt
    "um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6,
    "sete": 7, "oito": 8, "nove": 9, "dez": 10, "onze": 11, "doze": 12, "treze": 13,
    "quatorze": 14, "catorze": 14, "quinze": 15, "dezesseis": 16, "dezasseis": 16,
    "dezessete": 17, "dezassete": 17, "dezoito": 18, "dezenove": 19, "dezanove": 19,
    "vinte": 20, "trinta": 30, "quarenta": 40, "cinquenta": 50, "sessenta": 60, "setenta": 70,
    "oitenta": 80, "noventa": 90, "cem": 100, "duzentos": 200, "duzentas": 200,
    "trezentos": 300, "trezentas": 300, "quatrocentos": 400, "quinhentos": 500,
    "seiscentos": 600, "setecentos": 700, "oitocentos": 800, "novecentos": 900,
    # es
    "un": 1, "uno": 1, "una": 1, "dos": 2, "cuatro": 4, "siete": 7, "ocho": 8, "nueve": 9,
    "diez": 10, "once": 11, "doce": 12, "trece": 13, "quince": 15, "dieciseis": 16,
    "diecisiete": 17, "dieciocho": 18, "diecinueve": 19, "veinte": 20, "veintiun": 21,
    "veintiuno": 21, "veintiuna": 21, "veintidos": 22, "veintitres": 23, "veinticuatro": 24,
    "veinticinco": 25, "veintiseis": 26, "veintisiete": 27, "veintiocho": 28,
    "veintinueve": 29, "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60,
    "ochenta": 80, "cien": 100, "doscientos": 200, "doscientas": 200, "trescientos": 300,
    "cuatrocientos": 400, "quinientos": 500, "seiscientos": 600, "setecientos": 700,
    "ochocientos": 800, "novecientos": 900,
    # it (compounds such as "ventiquattro" or "duemilacinquecento" are split into these)
    "due": 2, "tre": 3, "quattro": 4, "cinque": 5, "sei": 6, "sette": 7, "otto": 8,
    "dieci": 10, "undici": 11, "dodici": 12, "tredici": 13, "quattordici": 14,
    "quindici": 15, "sedici": 16, "diciassette": 17, "diciotto": 18, "diciannove": 19,
    "venti": 20, "trenta": 30, "quaranta": 40, "sessanta": 60, "settanta": 70,
    "cinquanta": 50, "ottanta": 80, "novanta": 90,
    # en
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip

# Italian tens lose their last vowel before "uno" and "otto": "ventuno", "trentotto".
_ELIDED = {"vent": 20, "trent": 30, "quarant": 40, "cinquant": 50, "sessant": 60,
           "settant": 70, "ottant": 80, "novant": 90}  # fmt: skip
_HUNDREDS = {"hundred", "cento", "ciento", "cent"}
_SCALES = {
    "mil": 1000, "mila": 1000, "mille": 1000, "thousand": 1000, "k": 1000,
    "milhao": 1_000_000, "milhoes": 1_000_000, "millon": 1_000_000, "millones": 1_000_000,
    "milione": 1_000_000, "milioni": 1_000_000, "million": 1_000_000, "millions": 1_000_000,
}  # fmt: skip
_CONNECTORS = {"e", "y", "and"}

# Words that are numbers in one language and something else in another ("não sei", "what
# is due", "dos meses", "all at once", "um acordo"). They count only when the words around
# them make them numbers: see `Number.weak`.
WEAK_WORDS = frozenset({"um", "uma", "un", "uno", "una", "one", "dos", "due", "sei", "once"})

_ITALIAN_UNITS = word_set(
    "uno un una due tre quattro cinque sei sette otto nove dieci undici dodici tredici "
    "quattordici quindici sedici diciassette diciotto diciannove venti trenta quaranta "
    "cinquanta sessanta settanta ottanta novanta"
)
_ITALIAN_ATOMS = sorted(
    [*_ITALIAN_UNITS, *_ELIDED, "cento", "cent", "mila", "mille"], key=len, reverse=True
)


@dataclass(frozen=True)
class Number:
    """A number found in the text, with the tokens it spans and how it was written."""

    value: Decimal
    first: int  # index of its first token
    last: int  # index of its last token
    digits: bool  # written (at least partly) with digits
    formatted: bool  # with thousands or decimal separators, or "mil"/"k": surely not a count
    weak: bool  # only words such as "due" or "sei" that are also ordinary words

    @property
    def is_integer(self) -> bool:
        return self.value == self.value.to_integral_value()


def numeric_value(text: str) -> Decimal | None:
    """The value of digits as written in any of the four conventions, or None."""
    if text.isdigit():
        return Decimal(text)
    if _COMMA_DECIMAL.fullmatch(text):
        normal = text.replace(".", "").replace(",", ".")
    elif _DOT_DECIMAL.fullmatch(text):
        normal = text.replace(",", "")
    else:
        return None
    try:
        return Decimal(normal)
    except InvalidOperation:  # pragma: no cover - the patterns only let digits through
        return None


def atoms_of(word: str) -> list[tuple[str, int]] | None:
    """A number word as ("value" | "hundred" | "scale", value) atoms, or None."""
    if word in _SCALES:
        return [("scale", _SCALES[word])]
    if word in _HUNDREDS and word != "cent":
        return [("hundred", 100)]
    if word in _VALUES:
        return [("value", _VALUES[word])]
    if word == "a":
        return [("value", 1)]
    return _italian_compound(word) if len(word) >= 6 else None


def _italian_compound(word: str) -> list[tuple[str, int]] | None:
    """Split "duemilacinquecento" into due, mila, cinque, cento; None unless all atoms."""
    if not word:
        return []
    for atom in _ITALIAN_ATOMS:
        if word.startswith(atom):
            rest = _italian_compound(word[len(atom) :])
            if rest is not None:
                if atom in ("cento", "cent"):
                    kind, value = "hundred", 100
                elif atom in ("mila", "mille"):
                    kind, value = "scale", 1000
                else:
                    kind, value = "value", _ELIDED.get(atom) or _VALUES[atom]
                return [(kind, value), *rest]
    return None


class _Accumulator:
    """Adds up number atoms the way the four languages compose them.

    "dois mil e quinhentos", "two thousand five hundred", "mil quinientos" and
    "duemilacinquecento" all become 2500 (or 1500); an atom that cannot continue the number
    ("12 15", "vinte vinte") ends it.
    """

    def __init__(self) -> None:
        self.total = Decimal(0)
        self.current = Decimal(0)
        self.last: str | None = None
        self.ceiling: int | None = None  # the last scale used: "mil" cannot follow "mil"

    @property
    def value(self) -> Decimal:
        return self.total + self.current

    def fits(self, kind: str, value: Decimal, *, digits: bool = False) -> bool:
        if self.last is None:
            return True
        if kind == "scale":
            return self.ceiling is None or value < self.ceiling
        if kind == "hundred":
            return self.last == "value" and not digits and 0 < self.current < 10
        if digits:  # "2 mil e 500": digits only continue after a scale
            return self.last == "scale" and value < (self.ceiling or 0)
        if self.last == "scale":
            return value < (self.ceiling or 0)
        if self.last == "hundred":
            return value < 100 and self.current % 100 == 0
        order = 10 ** len(str(int(value)))
        return value < self.current and self.current % order == 0

    def add(self, kind: str, value: Decimal) -> None:
        if kind == "scale":
            self.total += (self.current or 1) * value
            self.current = Decimal(0)
            self.ceiling = int(value)
        elif kind == "hundred":
            self.current = (self.current or 1) * value
        else:
            self.current += value
        self.last = kind


def read_numbers(tokens: list[Token]) -> list[Number]:
    """Every number in the tokens, left to right, each as long as it can be read."""
    found = []
    index = 0
    while index < len(tokens):
        number = _read_at(tokens, index)
        if number is None:
            index += 1
        else:
            found.append(number)
            index = number.last + 1
    return found


def _read_at(tokens: list[Token], start: int) -> Number | None:
    first = tokens[start]
    if first.is_number:
        value = numeric_value(first.text)
        if value is None:
            return None
        sum_ = _Accumulator()
        sum_.add("value", value)
        formatted = not first.text.isdigit()
        if not value.is_zero() and value != value.to_integral_value():
            # Only a scale can follow decimals: "1,5 mil", "1.5k".
            return _with_scale(tokens, start, sum_)
        return _continue(tokens, start, sum_, digits=True, formatted=formatted, weak=False)
    atoms = atoms_of(first.text)
    if not atoms or atoms[0][0] == "scale" and first.text == "k":
        return None
    sum_ = _Accumulator()
    for kind, value in atoms:
        if not sum_.fits(kind, Decimal(value)):
            return None
        sum_.add(kind, Decimal(value))
    if first.text == "a" and not _next_is_multiplier(tokens, start):
        return None
    return _continue(
        tokens,
        start,
        sum_,
        digits=False,
        formatted=atoms[-1][0] == "scale",
        weak=first.text in WEAK_WORDS or first.text == "a",
    )


def _next_is_multiplier(tokens: list[Token], index: int) -> bool:
    if index + 1 >= len(tokens):
        return False
    atoms = atoms_of(tokens[index + 1].text) or []
    return bool(atoms) and atoms[0][0] in ("hundred", "scale")


def _with_scale(tokens: list[Token], start: int, sum_: _Accumulator) -> Number:
    last = start
    if start + 1 < len(tokens) and tokens[start + 1].text in _SCALES:
        sum_.add("scale", Decimal(_SCALES[tokens[start + 1].text]))
        last = start + 1
    return Number(sum_.value, start, last, digits=True, formatted=True, weak=False)


def _continue(tokens, start, sum_, *, digits: bool, formatted: bool, weak: bool) -> Number:
    """Extend the number over the following tokens while they continue it."""
    last = start
    index = start + 1
    while index < len(tokens):
        token = tokens[index]
        step = 1
        if token.text in _CONNECTORS or token.text == "-" and not tokens[last].is_number:
            step = 2
            if index + 1 >= len(tokens):
                break
            token = tokens[index + 1]
        atoms = _atoms_for_continuation(token)
        if not atoms or not _all_fit(sum_, atoms, digits=token.is_number):
            break
        if tokens[last].is_number and not token.is_number and atoms[0][0] == "value":
            break  # "20 quatro" is two numbers, not 24
        for kind, value in atoms:
            sum_.add(kind, value)
            formatted = formatted or kind == "scale"
        digits = digits or token.is_number
        weak = weak and token.text in WEAK_WORDS
        last = index + step - 1
        index += step
    return Number(sum_.value, start, last, digits, formatted, weak)


def _atoms_for_continuation(token: Token) -> list[tuple[str, Decimal]] | None:
    if token.is_number:
        value = numeric_value(token.text)
        if value is None or not token.text.isdigit():
            return None
        return [("value", value)]
    if token.text == "a":
        return None
    atoms = atoms_of(token.text)
    return [(kind, Decimal(value)) for kind, value in atoms] if atoms else None


def _all_fit(sum_: _Accumulator, atoms, *, digits: bool) -> bool:
    trial = copy.copy(sum_)
    for kind, value in atoms:
        if not trial.fits(kind, value, digits=digits):
            return False
        trial.add(kind, value)
    return True
