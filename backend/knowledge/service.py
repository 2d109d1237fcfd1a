"""Answering general questions from the knowledge base: extractive, cited, language first.

Questions about the person's own debt never come here; the backend answers those from the
debt itself. Retrieved text is only ever quoted, never followed as instructions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from backend.knowledge.store import open_store

FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class Passage:
    title: str
    topic: str
    language: str
    country: str
    excerpt: str
    score: float


@dataclass(frozen=True)
class Answer:
    passages: list[Passage]
    language: str  # the language of the passages
    fell_back: bool  # no passage in the asked language: these are in English


def search(
    *, question: str, language: str, persist_directory: Path, k: int, threshold: float
) -> Answer:
    """The best passages in the conversation's language, else in English, above the threshold."""
    found = _search_in(question, language, persist_directory, k, threshold)
    if found or language == FALLBACK_LANGUAGE:
        return Answer(found, language, fell_back=False)
    english = _search_in(question, FALLBACK_LANGUAGE, persist_directory, k, threshold)
    return Answer(english, FALLBACK_LANGUAGE, fell_back=bool(english))


def _search_in(question, language, persist_directory, k, threshold) -> list[Passage]:
    store = open_store(str(persist_directory))
    results = store.similarity_search_with_relevance_scores(
        question, k=k, filter={"language": language}
    )
    passages = []
    for document, score in results:
        if score < threshold:
            continue
        meta = document.metadata
        passages.append(
            Passage(
                title=meta["title"],
                topic=meta["topic"],
                language=language,
                country=meta["country"],
                excerpt=excerpt(document.page_content, meta["title"]),
                score=round(float(score), 4),
            )
        )
    return passages


def excerpt(text: str, title: str, limit: int = 420) -> str:
    """The passage without its title line and Markdown marks, cut at a sentence end."""
    body = text[len(title) :].strip() if text.startswith(title) else text
    body = re.sub(r"^#+\s*", "", body, flags=re.MULTILINE)
    body = re.sub(r"[*_`>]", "", body)
    body = " ".join(body.split())
    if len(body) <= limit:
        return body
    cut = body[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > limit // 2 else cut.rsplit(" ", 1)[0] + "…"
