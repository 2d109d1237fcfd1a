"""How well the knowledge base answers: the evaluation sets in `knowledge/eval/`, per language.

For each question the evaluation knows the guide a person should be quoted (`topic`); it reports
hit@1 (that guide comes first: the answer a person reads), the mean reciprocal rank and hit@3.
The unrelated questions (`knowledge/eval/unrelated/`) must get no guide at all at the threshold.

    python -m backend.knowledge.evaluation            # the table, with the settings' threshold
    python -m backend.knowledge.evaluation --tune     # also searches the fusion weights
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from backend.knowledge.fusion import (
    DEFAULT_WEIGHTS,
    SIGNAL_NAMES,
    FusionWeights,
    Signals,
    feature_rows,
    rank_guides,
)
from backend.knowledge.index import KnowledgeIndex, Ranking, knowledge_index
from backend.knowledge.service import Gate, admitted

LANGUAGES = ("pt_BR", "es", "it", "en")
EVAL_DIR = Path(__file__).resolve().parents[2] / "knowledge" / "eval"


@dataclass(frozen=True)
class Asked:
    question: str
    topic: str
    signals: Signals
    background: float


@dataclass(frozen=True)
class LanguageReport:
    language: str
    questions: int
    hit_at_1: float
    mrr: float
    hit_at_3: float
    unrelated: int
    unrelated_answered: int  # unrelated questions that still got a guide: should be 0
    missed: tuple[str, ...]  # questions whose guide was not quoted first

    @property
    def row(self) -> str:
        return (
            f"| {self.language} | {self.questions} | {self.hit_at_1:.2f} | {self.mrr:.2f} | "
            f"{self.hit_at_3:.2f} | {self.unrelated_answered}/{self.unrelated} |"
        )


TABLE_HEADER = (
    "| language | questions | hit@1 | MRR | hit@3 | unrelated answered |\n"
    "|---|---:|---:|---:|---:|---:|"
)


def questions(language: str, folder: Path = EVAL_DIR) -> list[dict]:
    return yaml.safe_load((folder / f"{language}.yml").read_text(encoding="utf-8"))["questions"]


def unrelated_questions(language: str, folder: Path = EVAL_DIR) -> list[str]:
    path = folder / "unrelated" / f"{language}.yml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]


def collect(index: KnowledgeIndex, language: str) -> tuple[list[Asked], list[Asked]]:
    """Both searches' scores for every question: embedded once, fused as often as wanted."""
    asked = [
        Asked(item["question"], item["topic"], *index.signals(item["question"], language))
        for item in questions(language)
    ]
    unrelated = [
        Asked(question, "", *index.signals(question, language))
        for question in unrelated_questions(language)
    ]
    return asked, unrelated


def report(
    index: KnowledgeIndex,
    language: str,
    asked: list[Asked],
    unrelated: list[Asked],
    *,
    weights: FusionWeights,
    gate: Gate,
) -> LanguageReport:
    """What a person sees: a question the gate turns away counts as a miss at every rank."""
    candidates = index.languages[language].candidates

    def quoted(item: Asked) -> list[str]:
        ranking = Ranking(rank_guides(item.signals, candidates, weights), item.background)
        return [pid.split("/", 1)[1].split("#")[0] for pid, _ in admitted(ranking, gate, k=12)]

    reciprocal, first, top3, missed = [], 0, 0, []
    for item in asked:
        ranked = quoted(item)
        rank = ranked.index(item.topic) + 1 if item.topic in ranked else None
        reciprocal.append(1.0 / rank if rank else 0.0)
        first += rank == 1
        top3 += bool(rank and rank <= 3)
        if rank != 1:
            got = ranked[0] if ranked else "no guide (I don't know)"
            missed.append(f"{item.question!r}: {item.topic} at {rank}, got {got}")
    answered = sum(bool(quoted(item)) for item in unrelated)
    total = len(asked)
    return LanguageReport(
        language=language,
        questions=total,
        hit_at_1=first / total,
        mrr=sum(reciprocal) / total,
        hit_at_3=top3 / total,
        unrelated=len(unrelated),  # none while tuning the ranking
        unrelated_answered=answered,
        missed=tuple(missed),
    )


def tune(
    index: KnowledgeIndex, collected: dict[str, tuple[list[Asked], list[Asked]]]
) -> tuple[FusionWeights, tuple[float, float, float]]:
    """The weights with the best worst-language hit@1, then the best sums of hit@1 and MRR.

    Ranking only (no gate). The standardized signals are computed once per question; each
    combination of weights is then one matrix product.
    """
    prepared = []
    for language, (asked, _) in collected.items():
        candidates = index.languages[language].candidates
        topics = [candidate.topic for candidate in candidates]
        rows = np.array([feature_rows(item.signals, candidates) for item in asked])
        targets = np.array([topics.index(item.topic) for item in asked])
        prepared.append((rows, targets))
    levels = (0, 0.25, 0.5, 1, 2)
    best_key, best_weights = None, DEFAULT_WEIGHTS
    for combination in itertools.product(levels, repeat=len(SIGNAL_NAMES)):
        if not any(combination):
            continue
        weight = np.array(combination, dtype=float)
        hits, reciprocal = [], []
        for rows, targets in prepared:
            scores = rows @ weight  # questions × guides
            own = scores[np.arange(len(targets)), targets]
            ranks = (scores > own[:, None]).sum(axis=1) + 1
            hits.append(float((ranks == 1).mean()))
            reciprocal.append(float((1.0 / ranks).mean()))
        key = (min(hits), sum(hits), sum(reciprocal))
        if best_key is None or key > best_key:
            best_key, best_weights = key, FusionWeights(*combination)
    return best_weights, best_key


def tune_gate(
    index: KnowledgeIndex,
    collected: dict[str, tuple[list[Asked], list[Asked]]],
    weights: FusionWeights,
) -> tuple[Gate, float]:
    """The gate that best separates the evaluation questions from the unrelated ones.

    A gate scores a question by its best guide's similarity less `background_weight` times its
    closest off-topic message's. For each weight, the gap is the lowest evaluation question's
    score less the highest unrelated question's (negative: they overlap); the weight with the
    widest gap wins, and the threshold sits in the middle of the gap, so questions a little
    unlike the evaluation's still fall on the right side. Returns the gate and its gap.
    """

    def gated(item: Asked, language: str, weight: float) -> float:
        ranked = rank_guides(item.signals, index.languages[language].candidates, weights)
        return ranked[0].similarity - weight * item.background if ranked else -1.0

    best: tuple[float, Gate] | None = None
    for step in range(16):
        weight = step / 20  # 0 to 0.75
        lowest_asked = min(
            gated(item, language, weight)
            for language, (asked, _) in collected.items()
            for item in asked
        )
        highest_unrelated = max(
            gated(item, language, weight)
            for language, (_, unrelated) in collected.items()
            for item in unrelated
        )
        gap = lowest_asked - highest_unrelated
        if best is None or gap > best[0]:
            middle = (lowest_asked + highest_unrelated) / 2
            best = (gap, Gate(round(middle, 4), weight))
    return best[1], round(best[0], 4)


def main(argv: list[str] | None = None) -> int:
    from backend.config import get_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tune", action="store_true", help="search the fusion weights")
    parser.add_argument("--misses", action="store_true", help="list the questions missed")
    args = parser.parse_args(argv)
    settings = get_settings()
    index = knowledge_index(settings.knowledge_store_dir)
    collected = {lang: collect(index, lang) for lang in LANGUAGES if index.has_language(lang)}
    weights = DEFAULT_WEIGHTS
    if args.tune:
        weights, key = tune(index, collected)
        print(f"best weights: {weights} (worst hit@1, sum hit@1, sum MRR: {key})")
    print(TABLE_HEADER)
    gate = Gate.from_settings(settings)
    if args.tune:
        gate, gap = tune_gate(index, collected, weights)
        print(f"best gate: {gate} (gap between evaluation and unrelated questions: {gap})")
    for language, (asked, unrelated) in collected.items():
        found = report(index, language, asked, unrelated, weights=weights, gate=gate)
        print(found.row)
        if args.misses:
            for miss in found.missed:
                print(f"    {miss}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
