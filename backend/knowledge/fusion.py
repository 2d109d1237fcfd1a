"""Fusing what the dense and the lexical search say, guide by guide.

Every guide of the language gets one score per signal: its best passage's cosine similarity,
the mean of its two best, its guide card's (title, summary and headings) similarity, and the
BM25 scores of its best passage and of its card. Each signal is standardized over the guides
(how far above the others this guide stands, in standard deviations) and the guide's score is
the weighted sum. Standardized scores keep how decisively a signal prefers a guide, which rank
fusion (1 / (k + rank)) throws away: on the evaluation set rank fusion's worst language had a
hit@1 of 0.86 where this has 0.90. The weights were chosen on that set
(`python -m backend.knowledge.evaluation --tune`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, dataclass
from math import fsum, sqrt


@dataclass(frozen=True)
class FusionWeights:
    dense_passage: float = 2.0
    dense_two_passages: float = 0.25
    dense_guide: float = 0.25
    lexical_passage: float = 0.0
    lexical_guide: float = 1.0


DEFAULT_WEIGHTS = FusionWeights()


@dataclass(frozen=True)
class Signals:
    """What each search said about one question: entry id → score (higher is closer)."""

    dense: Mapping[str, float]
    lexical: Mapping[str, float]


@dataclass(frozen=True)
class Candidate:
    """A guide of one language: its card's id and its passages' ids, in order."""

    topic: str
    guide_id: str
    passage_ids: tuple[str, ...]


@dataclass(frozen=True)
class RankedGuide:
    topic: str
    fused: float
    passage_id: str  # the passage to quote
    similarity: float  # the best dense similarity among its passages and its card


def standardized(values: list[float]) -> list[float]:
    """How many standard deviations each value stands above the values' mean."""
    mean = fsum(values) / len(values)
    spread = sqrt(fsum((value - mean) ** 2 for value in values) / len(values))
    if spread < 1e-12:
        return [0.0] * len(values)
    return [(value - mean) / spread for value in values]


def guide_signals(signals: Signals, candidate: Candidate) -> tuple[float, ...]:
    dense = sorted((signals.dense.get(pid, 0.0) for pid in candidate.passage_ids), reverse=True)
    lexical = max(signals.lexical.get(pid, 0.0) for pid in candidate.passage_ids)
    return (
        dense[0],
        fsum(dense[:2]) / len(dense[:2]),
        signals.dense.get(candidate.guide_id, 0.0),
        lexical,
        signals.lexical.get(candidate.guide_id, 0.0),
    )


def rank_guides(
    signals: Signals, candidates: list[Candidate], weights: FusionWeights = DEFAULT_WEIGHTS
) -> list[RankedGuide]:
    if not candidates:
        return []
    raw = [guide_signals(signals, candidate) for candidate in candidates]
    columns = [standardized(list(column)) for column in zip(*raw, strict=True)]
    weight_of = astuple(weights)
    ranked = [
        RankedGuide(
            topic=candidate.topic,
            fused=sum(w * column[row] for w, column in zip(weight_of, columns, strict=True)),
            passage_id=best_passage(signals, candidate),
            similarity=max(raw[row][0], raw[row][2]),
        )
        for row, candidate in enumerate(candidates)
    ]
    ranked.sort(key=lambda guide: -guide.fused)
    return ranked


def best_passage(signals: Signals, candidate: Candidate) -> str:
    """The guide's passage both searches, standardized over its passages, rank best together."""
    ids = candidate.passage_ids
    dense = standardized([signals.dense.get(pid, 0.0) for pid in ids])
    lexical = standardized([signals.lexical.get(pid, 0.0) for pid in ids])
    together = [d + 0.5 * lex for d, lex in zip(dense, lexical, strict=True)]
    return ids[max(range(len(ids)), key=together.__getitem__)]
