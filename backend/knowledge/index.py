"""The searchable knowledge of one process: built once at start-up, read by every search.

Everything is loaded once from the Chroma collection that ingestion wrote (the one Chroma
client of the process): the entries' vectors for the dense search, the BM25 indexes per
language for the lexical search, and every passage's quotable text. A search embeds the
question once and scores it against every entry of its language in memory: a few hundred
vectors are one matrix product (well under a millisecond, and exact), where a filtered Chroma
query took 13 to 25 ms on the same entries.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from backend.knowledge.fusion import (
    DEFAULT_WEIGHTS,
    Candidate,
    FusionWeights,
    RankedGuide,
    Signals,
    rank_guides,
)
from backend.knowledge.lexical import LexicalIndex
from backend.knowledge.store import (
    BACKGROUND,
    BLOCK_SEPARATOR,
    GUIDE,
    PASSAGE,
    QUESTION,
    open_store,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredPassage:
    id: str
    number: int
    title: str
    topic: str
    language: str
    country: str
    heading: str
    blocks: tuple[str, ...]
    next_id: str | None


@dataclass(frozen=True)
class Entry:
    """One row of the Chroma collection: a passage, a guide card or a background message."""

    id: str
    text: str  # what was embedded
    meta: dict
    vector: list[float]


def _matrix(vectors: list) -> np.ndarray:
    if not vectors:
        return np.empty((0, 0), dtype=np.float32)
    return np.asarray(vectors, dtype=np.float32)


@dataclass(frozen=True)
class _Language:
    candidates: list[Candidate]
    entry_ids: list[str]  # passages, guide cards and example questions (lexical order)
    lexical: LexicalIndex
    vectors: np.ndarray  # one row per entry id (unit length: the dot product is the cosine)
    background: np.ndarray  # one row per off-topic message


@dataclass(frozen=True)
class Ranking:
    guides: list[RankedGuide]  # best first
    background: float  # similarity of the closest off-topic message (knowledge/background/)


class KnowledgeIndex:
    def __init__(self, persist_directory: Path) -> None:
        self.store = open_store(str(persist_directory))
        stored = self.store.get(include=["documents", "metadatas", "embeddings"])
        self.passages: dict[str, StoredPassage] = {}
        entries: dict[str, list[Entry]] = {}
        columns = (stored["ids"], stored["documents"], stored["metadatas"], stored["embeddings"])
        for entry_id, text, meta, vector in zip(*columns, strict=True):
            if meta.get("kind") not in (PASSAGE, GUIDE, QUESTION, BACKGROUND):
                continue  # written by an older ingestion; `./run setup` embeds it again
            entries.setdefault(meta["language"], []).append(Entry(entry_id, text, meta, vector))
            if meta["kind"] == PASSAGE:
                number = int(meta["chunk"])
                following = number + 1 < int(meta["passages"])
                self.passages[entry_id] = StoredPassage(
                    id=entry_id,
                    number=number,
                    title=meta["title"],
                    topic=meta["topic"],
                    language=meta["language"],
                    country=meta["country"],
                    heading=meta.get("heading") or "",
                    blocks=tuple(meta["blocks"].split(BLOCK_SEPARATOR)),
                    next_id=f"{meta['source']}#{number + 1}" if following else None,
                )
        self.languages = {
            language: self._language(language, found) for language, found in entries.items()
        }
        log.info(
            "knowledge index: %d passages in %d languages", len(self.passages), len(self.languages)
        )

    def _language(self, language: str, everything: list[Entry]) -> _Language:
        found = sorted((e for e in everything if e.meta["kind"] != BACKGROUND), key=lambda e: e.id)
        background = [e for e in everything if e.meta["kind"] == BACKGROUND]
        passage_ids: dict[str, list[tuple[int, str]]] = {}
        guide_ids: dict[str, str] = {}
        question_ids: dict[str, list[str]] = {}
        for entry in found:
            topic, kind = entry.meta["topic"], entry.meta["kind"]
            if kind == GUIDE:
                guide_ids[topic] = entry.id
            elif kind == QUESTION:
                question_ids.setdefault(topic, []).append(entry.id)
            else:
                passage_ids.setdefault(topic, []).append((int(entry.meta["chunk"]), entry.id))
        candidates = [
            Candidate(
                topic=topic,
                guide_id=guide_ids.get(topic, ""),
                passage_ids=tuple(pid for _, pid in sorted(passage_ids[topic])),
                question_ids=tuple(question_ids.get(topic, ())),
            )
            for topic in sorted(passage_ids)
        ]
        return _Language(
            candidates=candidates,
            entry_ids=[entry.id for entry in found],
            lexical=LexicalIndex([entry.text for entry in found], language),
            vectors=_matrix([entry.vector for entry in found]),
            background=_matrix([entry.vector for entry in background]),
        )

    def has_language(self, language: str) -> bool:
        return language in self.languages

    def signals(self, question: str, language: str) -> tuple[Signals, float]:
        """Every entry of the language scored by both searches, and the closest background.

        One embedding; the vectors are unit length, so a dot product is the cosine similarity.
        """
        indexed = self.languages[language]
        vector = np.asarray(self.store.embeddings.embed_query(question), dtype=np.float32)
        dense = dict(zip(indexed.entry_ids, (indexed.vectors @ vector).tolist(), strict=True))
        background = float((indexed.background @ vector).max()) if len(indexed.background) else 0.0
        lexical = dict(zip(indexed.entry_ids, indexed.lexical.scores(question), strict=True))
        return Signals(dense=dense, lexical=lexical), background

    def rank(
        self, question: str, language: str, weights: FusionWeights = DEFAULT_WEIGHTS
    ) -> Ranking:
        if language not in self.languages:
            return Ranking(guides=[], background=0.0)
        signals, background = self.signals(question, language)
        guides = rank_guides(signals, self.languages[language].candidates, weights)
        return Ranking(guides=guides, background=background)


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _cached(persist_directory: str) -> KnowledgeIndex:
    return KnowledgeIndex(Path(persist_directory))


def knowledge_index(persist_directory: Path) -> KnowledgeIndex:
    """The process's index for a store (built on first use, normally at start-up)."""
    with _lock:  # two first requests at once build it once
        return _cached(str(persist_directory))


def forget_indexes() -> None:
    """After ingesting again in this process: the next search loads the new entries."""
    with _lock:
        _cached.cache_clear()


def warm_up(persist_directory: Path) -> threading.Thread | None:
    """Build the index and load the embedding model in the background, at start-up.

    A search arriving before it is done waits for it rather than building a second one.
    """
    if not persist_directory.is_dir():
        return None  # nothing ingested here (yet); the first search will say so

    def build() -> None:
        try:
            index = knowledge_index(persist_directory)
            index.store.embeddings.embed_query("warm up")
        except Exception:  # the first search builds it again, and reports the error there
            log.exception("knowledge index: warm-up failed")

    thread = threading.Thread(target=build, name="knowledge-warm-up", daemon=True)
    thread.start()
    return thread
