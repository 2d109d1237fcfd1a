"""Turn latency and throughput: the whole stack's web chat next to a bare Rasa moodbot.

Stack: each conversation opens its own web chat session and is a demo debtor (Portuguese,
Spanish or English persona) who greets, asks for the balance, gives the document suffix and
birth date, asks "how much do I owe?", asks a financial-education question and thanks — seven
turns through web chat API → gateway → Rasa → actions → backend. A non-2xx answer, an apology
(gateway's or an action's), or a birth-date turn that does not verify is an error.

Bare: the moodbot on its REST channel answering seven moodbot lines per conversation. Both run
the same concurrency levels with the same number of turns; one whole conversation first warms
each server up and is not counted. While each server runs, the summed RSS of its processes is
sampled, and the time from spawning it to its first reply is measured.
"""

from __future__ import annotations

import asyncio
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from backend.seed import DEMO_PERSONAS
from bench import bare_rasa, memory
from bench.bare_rasa import MOODBOT_LINES
from bench.loadgen import LoadResult, Script, TurnFailed, require_loopback, run_load
from locales import translate
from tests.stack import seeded_stack

LANGUAGES = ("pt_BR", "es", "en")
# (greeting, ask the balance, "how much do I owe?", a knowledge question, thanks)
LINES = {
    "pt_BR": (
        "oi",
        "quero saber meu saldo",
        "quanto devo?",
        "como montar um orçamento?",
        "obrigado",
    ),
    "es": (
        "hola",
        "quiero saber mi saldo",
        "¿cuánto debo?",
        "¿cómo hago un presupuesto?",
        "gracias",
    ),
    "en": ("hi", "what is my balance?", "how much do I owe?", "how do i make a budget?", "thanks"),
}
APOLOGIES = (
    "Sorry, I can't answer right now. Your message was kept and a member of our team can help "
    'you: just write "human".',
    "Sorry, something went wrong on our side and I can't check that right now. "
    "Your message was kept. Would you like to talk to a member of our team?",
)
CREDITOR = "Aurora"  # the demo creditor's name, shown once the debtor is verified
TURNS_PER_CONVERSATION = 7
assert len(MOODBOT_LINES) == TURNS_PER_CONVERSATION

# Concurrency → conversations each concurrent worker holds one after another.
LEVELS = {1: 3, 20: 1, 50: 1}
QUICK_LEVELS = {1: 1, 5: 1}
LEVEL_DEADLINE = 420.0  # seconds per level: no turn starts after it


def plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace("\u202f", " ").replace("\xa0", " ")


def apology_texts() -> list[str]:
    return [plain(translate(language, msgid)) for language in LANGUAGES for msgid in APOLOGIES]


def _persona(language: str):
    return next(p for p in DEMO_PERSONAS if p.language.value == language)


def stack_lines(language: str) -> list[str]:
    """The seven lines a demo debtor in `language` says."""
    persona = _persona(language)
    greeting, balance, how_much, knowledge, thanks = LINES[language]
    suffix = "".join(ch for ch in persona.document if ch.isalnum())[-4:]
    birth = persona.birth_date.strftime("%m/%d/%Y" if language == "en" else "%d/%m/%Y")
    return [greeting, balance, suffix, birth, how_much, knowledge, thanks]


def stack_script(backend_url: str, number: int, apologies: list[str]) -> Script:
    """Conversation `number`: its own web chat session, a persona by number."""
    language = LANGUAGES[number % len(LANGUAGES)]
    state: dict[str, str] = {}

    async def open_session(client: httpx.AsyncClient) -> None:
        response = await client.post(f"{backend_url}/chat/api/sessions")
        response.raise_for_status()
        state["session_id"] = response.json()["session_id"]

    def turn(text: str, must_verify: bool):
        async def say(client: httpx.AsyncClient) -> str:
            response = await client.post(
                f"{backend_url}/chat/api/messages",
                json={"session_id": state["session_id"], "text": text, "language": language},
            )
            response.raise_for_status()
            reply = plain("\n".join(m.get("text") or "" for m in response.json()["messages"]))
            if any(apology in reply for apology in apologies):
                raise TurnFailed(f"apology: {reply[:120]!r}")
            if must_verify and CREDITOR not in reply:
                raise TurnFailed(f"not verified: {reply[:120]!r}")
            return reply

        return say

    lines = stack_lines(language)
    return Script(open_session, [turn(line, i == 3) for i, line in enumerate(lines)])


def bare_script(webhook: str, sender: str) -> Script:
    async def no_session(_client: httpx.AsyncClient) -> None:
        return None

    def turn(text: str):
        async def say(client: httpx.AsyncClient) -> str:
            response = await client.post(webhook, json={"sender": sender, "message": text})
            response.raise_for_status()
            return "\n".join(m.get("text") or "" for m in response.json())

        return say

    return Script(no_session, [turn(line) for line in MOODBOT_LINES])


@dataclass
class ServerRun:
    """One server under load: results per concurrency level, memory, start."""

    levels: dict[int, LoadResult] = field(default_factory=dict)
    peak_rss_mib: float | None = None
    high_water_mib: float | None = None
    first_reply_seconds: float | None = None
    processes: int = 0


class _Ticker:
    """Says how far a level got, at most every ten seconds."""

    def __init__(self, progress: Callable[[str], None], what: str, total: int) -> None:
        self.progress, self.what, self.total = progress, what, total
        self.done, self.last = 0, time.monotonic()

    def __call__(self) -> None:
        self.done += 1
        if time.monotonic() - self.last > 10:
            self.last = time.monotonic()
            self.progress(f"{self.what}: {self.done}/{self.total} turns")


async def _levels(
    make: Callable[[int, int], Script],
    levels: dict[int, int],
    progress: Callable[[str], None],
    label: str,
) -> dict[int, LoadResult]:
    results = {}
    for concurrency, rounds in levels.items():
        scripts = [
            [make(concurrency, w * rounds + r) for r in range(rounds)] for w in range(concurrency)
        ]
        total = concurrency * rounds * TURNS_PER_CONVERSATION
        progress(f"{label}: {concurrency} concurrent conversations, {total} turns")
        ticker = _Ticker(progress, f"{label} {concurrency} conversations", total)
        result = await run_load(scripts, deadline_seconds=LEVEL_DEADLINE, on_turn=ticker)
        progress(
            f"{label} {concurrency}: p50 {result.p(0.5) * 1e3:.0f} ms, "
            f"{result.turns_per_second:.1f} turns/s, {result.errors} errors"
        )
        results[concurrency] = result
    return results


def _first_reply_after_spawn(send_first: Callable[[], None]) -> float | None:
    spawned = memory.spawned_at()
    send_first()
    return None if spawned is None else memory.now() - spawned


def run_bare(folder: Path, levels: dict[int, int], progress: Callable[[str], None]) -> ServerRun:
    """The moodbot at each level (trained first when its cached model is missing)."""
    project = bare_rasa.trained_project(progress)
    run = ServerRun()
    with memory.Sampler() as sampler:
        progress("bare Rasa: starting")
        with bare_rasa.serving(project, folder) as bare:
            require_loopback(bare.url)

            def first() -> None:
                response = httpx.post(
                    bare.webhook, json={"sender": "bench-first", "message": "hi"}, timeout=120
                )
                response.raise_for_status()

            run.first_reply_seconds = _first_reply_after_spawn(first)
            run.processes = len(memory.descendants())
            asyncio.run(
                _levels(
                    lambda c, n: bare_script(bare.webhook, "warm"), {1: 1}, progress, "bare warm-up"
                )
            )
            run.levels = asyncio.run(
                _levels(
                    lambda c, n: bare_script(bare.webhook, f"bench-{c}-{n}"),
                    levels,
                    progress,
                    "bare Rasa",
                )
            )
    run.peak_rss_mib, run.high_water_mib = sampler.peak_mib, sampler.high_water_mib
    return run


def run_stack(
    folder: Path,
    model: Path,
    levels: dict[int, int],
    progress: Callable[[str], None],
    backend_env: dict[str, str],
    while_up: Callable[[str, Path], None] | None = None,
) -> ServerRun:
    """The whole stack at each level; then `while_up(backend_url, folder)` (the breakdown)."""
    apologies = apology_texts()
    run = ServerRun()
    with memory.Sampler() as sampler:
        progress("stack: starting backend, action server and Rasa (Rasa takes a minute or two)")
        # As the demo runs it (Procfile): one backend worker.
        with seeded_stack(folder, model, **backend_env) as stack:
            url = stack.backend_url
            require_loopback(url)

            def first() -> None:
                session = httpx.post(f"{url}/chat/api/sessions", timeout=30)
                session.raise_for_status()
                reply = httpx.post(
                    f"{url}/chat/api/messages",
                    json={"session_id": session.json()["session_id"], "text": "oi"},
                    timeout=120,
                )
                reply.raise_for_status()

            run.first_reply_seconds = _first_reply_after_spawn(first)
            run.processes = len(memory.descendants())
            progress(f"stack: first reply {run.first_reply_seconds:.1f} s after spawning")
            asyncio.run(
                _levels(
                    lambda c, n: stack_script(url, n, apologies), {1: 3}, progress, "stack warm-up"
                )
            )
            if levels:
                run.levels = asyncio.run(
                    _levels(lambda c, n: stack_script(url, n, apologies), levels, progress, "stack")
                )
            if while_up is not None:
                while_up(url, folder)
    run.peak_rss_mib, run.high_water_mib = sampler.peak_mib, sampler.high_water_mib
    return run
