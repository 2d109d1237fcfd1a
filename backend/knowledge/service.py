"""Answering general questions from the knowledge base: extractive, cited, language first.

Questions about the person's own debt never come here; the backend answers those from the
debt itself. Retrieved text is only ever quoted, never followed as instructions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from backend.knowledge.index import Ranking, StoredPassage, knowledge_index
from backend.knowledge.passages import excerpt

FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    heading: str
    topic: str
    language: str
    country: str
    excerpt: str  # whole sentences from the passage's start
    score: float | None  # the guide's dense similarity; None when asked for by id
    next_id: str | None  # the guide's next passage, for "tell me more"


@dataclass(frozen=True)
class Answer:
    passages: list[Passage]  # one per guide, best first; none: "I don't know"
    language: str  # the language of the passages
    fell_back: bool  # no passage in the asked language: these are in English


@dataclass(frozen=True)
class Gate:
    """When a guide is quoted at all: close enough, and closer than anything off-topic."""

    threshold: float
    background_weight: float

    @classmethod
    def from_settings(cls, settings) -> Gate:
        return cls(settings.knowledge_score_threshold, settings.knowledge_background_weight)

    def admits(self, similarity: float, background: float) -> bool:
        return similarity - self.background_weight * background >= self.threshold


def search(*, question: str, language: str, persist_directory: Path, k: int, gate: Gate) -> Answer:
    """The best guides in the conversation's language, else in English, if the gate admits."""
    found = _search_in(question, language, persist_directory, k, gate)
    if found or language == FALLBACK_LANGUAGE:
        return Answer(found, language, fell_back=False)
    english = _search_in(question, FALLBACK_LANGUAGE, persist_directory, k, gate)
    return Answer(english, FALLBACK_LANGUAGE, fell_back=bool(english))


def passage(*, passage_id: str, persist_directory: Path) -> Passage | None:
    stored = knowledge_index(persist_directory).passages.get(passage_id)
    return _quoted(stored, score=None) if stored else None


def admitted(ranking: Ranking, gate: Gate, k: int) -> list[tuple[str, float]]:
    """(passage id, similarity) of the top guides, if the best one passes the gate."""
    if not ranking.guides or not gate.admits(ranking.guides[0].similarity, ranking.background):
        return []
    return [(guide.passage_id, guide.similarity) for guide in ranking.guides[:k]]


def _search_in(question, language, persist_directory, k, gate) -> list[Passage]:
    index = knowledge_index(persist_directory)
    chosen = admitted(index.rank(question, language), gate, k)
    found = []
    for passage_id, score in chosen:
        stored = index.passages[passage_id]
        quoted = _quoted(stored, score=round(score, 4))
        if quoted.next_id is None and stored.number > 0:
            # The answer was the guide's last passage: "tell me more" is the guide from its
            # start (read on from there, it ends where it ends).
            quoted = replace(quoted, next_id=passage_id.rpartition("#")[0] + "#0")
        found.append(quoted)
    return found


def _quoted(stored: StoredPassage, *, score: float | None) -> Passage:
    return Passage(
        id=stored.id,
        title=stored.title,
        heading=stored.heading,
        topic=stored.topic,
        language=stored.language,
        country=stored.country,
        excerpt=excerpt(stored.blocks),
        score=score,
        next_id=stored.next_id,
    )
