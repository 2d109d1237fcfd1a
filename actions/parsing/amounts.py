"""What each number in a message is: money, a number of installments, a day, or neither.

"dia 15 eu pago 300" holds a day (15) and money (300); "R$ 150 em 10x" money and a count;
"não sei, 2 mil por mês" only money (2000 a month): "sei" is "I know" here, not six.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from actions.parsing.dates import date_spans
from actions.parsing.numbers import Number, read_numbers
from actions.parsing.text import Token, fold, phrases, tokenize, word_set, words

CURRENCY_BEFORE = frozenset({"r$", "us$", "$", "€", "£", "eur", "usd", "brl", "gbp"})
CURRENCY_AFTER = CURRENCY_BEFORE | {
    "reais", "real", "euro", "euros", "dolar", "dolares", "dollar", "dollars", "bucks",
    "pounds", "quid", "paus", "pila", "pilas",
}  # fmt: skip
COUNT_WORDS = word_set(
    # pt
    "x vez vezes vzs vz parcela parcelas parc parcelinhas prestacao prestacoes mensalidade "
    "mensalidades boleto boletos meses "
    # es
    "cuota cuotas couta coutas plazo plazos mensualidad mensualidades pagos veces "
    # it
    "rata rate ratine mesi pagamenti mensilita volte "
    # en, with the misspellings seen in real messages
    "installment installments instalment instalments installmets instalmets intallments "
    "installements parcel parcels payment payments months times",
)
# A count word that can stand between the number and its count word: "12 parcelas mensais".
_COUNT_ADJECTIVES = word_set(
    "monthly mensais mensal mensuales mensili iguais iguales equal",
)
MONTHLY_AFTER = phrases(
    "por mes",
    "ao mes",
    "al mes",
    "a mes",
    "x mes",
    "cada mes",
    "a cada mes",
    "por cada mes",
    "todo mes",
    "todos os meses",
    "mensais",
    "mensal",
    "mensalmente",
    "por parcela",
    "mensuales",
    "mensual",
    "mensualmente",
    "al mese",
    "ogni mese",
    "mensili",
    "mensile",
    "a month",
    "per month",
    "each month",
    "every month",
    "monthly",
    "a mo",
    "per mo",
    "/ mes",
    "/ mese",
    "/ month",
    "/ mo",
    "/ m",
)
# Words after which an amount is what each installment should be: "parcelas de 150".
MONTHLY_BEFORE = word_set(
    "mensalidade mensalidades parcela parcelas parcelinhas prestacao prestacoes cuota cuotas "
    "couta coutas mensualidad mensualidades rata rate installment installments instalment "
    "instalments payments monthly mensais mensili mensuales x",
)
DOWN_WORDS = word_set(
    "entrada sinal enganche anticipo acconto caparra down upfront deposit downpayment",
)
_DOWN_FILLERS = word_set(
    "de da di do of a an the uma un una com con with como as na no em en in per para "
    "payment pagamento pago inicial initial iniziale",
)
PAY_WORDS = word_set(
    "pagar pago pagaria pagarei pagamos pagando consigo conseguiria dar dou daria oferecer "
    "ofereco pay paying afford offer give doy ofrezco ofrecer puedo pagare pagherei verso "
    "versare riesco offro posso",
)
OWED_WORDS = word_set(
    "devo deve divida debito debo deuda debe debt owe owed balance total devo dovuto debiti",
)
_OWED_FILLERS = word_set("e de es is of di da do a o the my minha mi il la uns about like")
_PERCENT = phrases("%", "por cento", "porcento", "por ciento", "per cento", "percent", "pct")
_TIME_AFTER = word_set("h hs hrs hr horas hora ore am pm hours oclock")
_COUNT_BEFORE = frozenset({"em", "en", "in"})
_OF = frozenset({"de", "di", "da", "of"})
LUMP_SUM = phrases(
    # pt
    "a vista", "avista", "quitar", "quito", "quitaria", "quitacao", "de uma vez",
    "de uma so vez", "duma vez", "pagamento unico", "parcela unica", "uma parcela so",
    "em uma parcela", "numa parcela", "liquidar", "pagar tudo", "tudo de uma vez",
    # es
    "al contado", "de contado", "de una vez", "de una sola vez", "pago unico", "un solo pago",
    "en un pago", "en un solo pago", "una sola cuota", "cuota unica", "saldar", "todo junto",
    "pagar todo",
    # it
    "unica soluzione", "tutto subito", "saldo e stralcio", "stralcio", "una tantum",
    "rata unica", "unica rata", "in una rata", "un solo pagamento", "saldare", "liquidare",
    "estinguere", "in una volta",
    # en
    "in one go", "lump sum", "lump", "pay it all", "pay all", "pay everything", "settle",
    "settlement", "in full", "all at once", "one payment", "single payment",
    "one time payment", "one off", "full payment", "pay off",
)  # fmt: skip


@dataclass(frozen=True)
class Reading:
    """A number and what it is in its message."""

    number: Number
    role: str  # "money", "count", "date" or "other" (percent, hour, an article...)
    currency: bool = False
    monthly: bool = False
    down: bool = False
    pay: bool = False  # after "pagar", "pay", "consigo": offered
    owed: bool = False  # after "devo", "debt": what is owed, not offered

    @property
    def value(self) -> Decimal:
        return self.number.value

    @property
    def bare(self) -> bool:
        """A small whole number with nothing that says money: "12" is twelve installments."""
        return (
            not (self.currency or self.monthly or self.pay or self.number.formatted)
            and self.number.is_integer
            and 0 < self.value <= 60
        )

    @property
    def score(self) -> int:
        """How surely this is the amount offered, when a message has several."""
        return 4 * self.monthly + 2 * self.pay + self.currency - 3 * self.owed


@dataclass(frozen=True)
class Message:
    """A message read once: its tokens, its numbers and whether it asks for a lump sum."""

    tokens: list[Token]
    readings: list[Reading]
    lump_sum: bool

    def counts(self) -> list[int]:
        return [int(r.value) for r in self.readings if r.role == "count"]

    def money(self) -> list[Reading]:
        return [r for r in self.readings if r.role == "money"]

    def best_money(self, *, include_down: bool = False) -> Reading | None:
        candidates = [r for r in self.money() if include_down or not r.down]
        return max(candidates, key=lambda r: r.score, default=None)


def read_message(text: str) -> Message:
    """Read every number of the text and decide what each one is."""
    folded = fold(text)
    tokens = tokenize(folded)
    spans = date_spans(folded)
    readings = [_reading(tokens, number, spans) for number in read_numbers(tokens)]
    return Message(tokens, readings, _has_lump_sum(tokens))


def parse_amount(text: str) -> Decimal | None:
    """The money amount in the text: "R$ 1.250,50", "€80,5", "$1,250.50", "2 mil", "1.5k".

    A number with "." or "," followed by three digits is read as thousands ("1.250",
    "1,250"); followed by one or two digits, as decimals ("80,5", "80.50"). Numbers that
    are days, dates, counts or percentages are not amounts: "dia 15 eu pago 300" is 300 and
    "12x" alone has none. With several amounts, the one offered wins over the one owed.
    """
    best = read_message(text).best_money(include_down=True)
    return _plain(best.value) if best else None


def parse_installments(text: str) -> int | None:
    """A number of installments: "12", "12x", "em 12 vezes", "doze parcelas", "six"."""
    message = read_message(text)
    counts = message.counts()
    if counts:
        return counts[0]
    bare = [r for r in message.money() if r.bare]
    return int(bare[0].value) if bare else None


def plain_text(value: Decimal) -> str:
    """An amount as the backend reads it: "2000", "1250.50"."""
    return str(_plain(value))


def _plain(value: Decimal) -> Decimal:
    return Decimal(int(value)) if value == value.to_integral_value() else value


def _has_lump_sum(tokens: list[Token]) -> bool:
    sequence = words(tokens)
    return any(_at(sequence, i, phrase) for phrase in LUMP_SUM for i in range(len(sequence)))


def _at(sequence, index: int, phrase: tuple[str, ...]) -> bool:
    return tuple(sequence[index : index + len(phrase)]) == phrase


def _reading(tokens: list[Token], number: Number, spans: list[tuple[int, int]]) -> Reading:
    role = _role(tokens, number, spans)
    if role != "money":
        return Reading(number, role)
    before = [t.text for t in tokens[max(0, number.first - 3) : number.first]]
    return Reading(
        number,
        role,
        currency=_currency_after(tokens, number) or _currency_before(tokens, number),
        monthly=_monthly(tokens, number),
        down=_down(tokens, number),
        pay=bool(PAY_WORDS.intersection(before[-3:])),
        owed=_owed(tokens, number),
    )


def _role(tokens: list[Token], number: Number, spans: list[tuple[int, int]]) -> str:
    if number.value <= 0:
        return "other"
    after = [t.text for t in tokens[number.last + 1 : number.last + 4]]
    counted = _counted(after) and number.is_integer and 1 <= number.value <= 360
    if number.weak:  # "não sei", "what is due", "um acordo": numbers only in plain context
        if counted:
            return "count"
        return "money" if after[:1] and after[0] in CURRENCY_AFTER else "other"
    if _currency_after(tokens, number):
        return "money"
    if counted:
        return "count"
    if any(_at(after, 0, phrase) for phrase in _PERCENT):
        return "other"
    if _currency_before(tokens, number):
        return "money"
    start, end = tokens[number.first].start, tokens[number.last].end
    if any(s < end and start < e for s, e in spans):
        return "date"
    if _is_time(tokens, number) or _is_attached_ordinal(tokens, number):
        return "other"
    first = tokens[number.first].text
    if number.digits and first.isdigit() and len(first) >= 8:
        return "other"  # a document or phone number
    small = number.is_integer and number.value <= 60
    previous = tokens[number.first - 1].text if number.first else ""
    if small and previous in _COUNT_BEFORE:
        return "count"  # "em 12", "pay it in 6"
    if small and len(after) > 1 and after[0] in _OF and tokens[number.last + 2].is_number:
        return "count"  # "10 de 200": ten installments of 200
    return "money"


def _counted(after: list[str]) -> bool:
    if after[:1] and after[0] in _COUNT_ADJECTIVES:
        after = after[1:]
    if not after or after[0] not in COUNT_WORDS:
        return False
    # "150 x mes" is Spanish shorthand for "150 por mes", not 150 installments.
    return not (after[0] == "x" and after[1:2] and after[1] in {"mes", "mese", "month"})


def _currency_after(tokens: list[Token], number: Number) -> bool:
    following = tokens[number.last + 1 : number.last + 3]
    if not following or following[0].text not in CURRENCY_AFTER:
        return False
    # A sign between two numbers goes with the second: "dia 15 R$ 300".
    return not (following[0].text in CURRENCY_BEFORE and following[1:] and following[1].is_number)


def _currency_before(tokens: list[Token], number: Number) -> bool:
    return number.first > 0 and tokens[number.first - 1].text in CURRENCY_BEFORE


def _monthly(tokens: list[Token], number: Number) -> bool:
    index = number.last + 1
    while index < len(tokens) and tokens[index].text in CURRENCY_AFTER:
        index += 1
    after = [t.text for t in tokens[index : index + 4]]
    if any(_at(after, 0, phrase) for phrase in MONTHLY_AFTER):
        return True
    index = number.first - 1
    while index >= 0 and tokens[index].text in CURRENCY_BEFORE | {"de", "da", "di", "of"}:
        index -= 1
    return index >= 0 and tokens[index].text in MONTHLY_BEFORE


def _down(tokens: list[Token], number: Number) -> bool:
    index, skipped = number.first - 1, 0
    while index >= 0 and skipped < 3 and tokens[index].text in _DOWN_FILLERS | CURRENCY_BEFORE:
        index, skipped = index - 1, skipped + 1
    if index >= 0 and tokens[index].text in DOWN_WORDS:
        return True
    index, skipped = number.last + 1, 0
    while (
        index < len(tokens) and skipped < 3 and tokens[index].text in _DOWN_FILLERS | CURRENCY_AFTER
    ):
        index, skipped = index + 1, skipped + 1
    return index < len(tokens) and tokens[index].text in DOWN_WORDS


def _owed(tokens: list[Token], number: Number) -> bool:
    """Whether the number is the debt, not an offer: "devo 3000", "I owe 3,000"."""
    index, skipped = number.first - 1, 0
    while index >= 0 and skipped < 4 and tokens[index].text in _OWED_FILLERS | CURRENCY_BEFORE:
        index, skipped = index - 1, skipped + 1
    return index >= 0 and tokens[index].text in OWED_WORDS


def _is_time(tokens: list[Token], number: Number) -> bool:
    after = tokens[number.last + 1 : number.last + 3]
    if not after:
        return False
    if after[0].text in _TIME_AFTER:
        return True
    return after[0].text == ":" and len(after) > 1 and after[1].is_number


def _is_attached_ordinal(tokens: list[Token], number: Number) -> bool:
    """Whether the number is "1a" or "2o" (from "1ª", "2º"): the first, the second."""
    following = tokens[number.last + 1] if number.last + 1 < len(tokens) else None
    return (
        following is not None
        and following.start == tokens[number.last].end
        and following.text in {"a", "o", "st", "nd", "rd", "th"}
    )
