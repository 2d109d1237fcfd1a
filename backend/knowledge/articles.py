"""Reading the financial-education articles: Markdown with YAML front matter."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document

REQUIRED_FIELDS = ("title", "language", "topic", "country", "last_reviewed")


class InvalidArticle(ValueError):
    """An article without front matter or without one of its required fields."""


@dataclass(frozen=True)
class Article:
    path: Path
    title: str
    language: str
    topic: str
    country: str
    last_reviewed: str
    body: str
    summary: str = ""  # optional front matter: what the guide covers, in a sentence or two
    questions: tuple[str, ...] = ()  # optional front matter: questions the guide answers

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def source(self) -> str:
        return f"{self.language}/{self.topic}"


def read_article(path: Path) -> Article:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        raise InvalidArticle(f"{path}: no front matter")
    _, front, body = text.split("---", 2)
    meta = yaml.safe_load(front) or {}
    missing = [field for field in REQUIRED_FIELDS if not meta.get(field)]
    if missing:
        raise InvalidArticle(f"{path}: missing {', '.join(missing)}")
    return Article(
        path=path,
        title=str(meta["title"]),
        language=str(meta["language"]),
        topic=str(meta["topic"]),
        country=str(meta["country"]),
        last_reviewed=str(meta["last_reviewed"]),
        body=body.strip(),
        summary=" ".join(str(meta.get("summary") or "").split()),
        questions=tuple(str(q) for q in meta.get("questions") or ()),
    )


class ArticleLoader(BaseLoader):
    """LangChain loader: one Document per article, its front matter as metadata."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def articles(self) -> list[Article]:
        return [read_article(path) for path in sorted(self.root.glob("*/*.md"))]

    def lazy_load(self) -> Iterator[Document]:
        for article in self.articles():
            yield Document(page_content=article.body, metadata=metadata_of(article))


def metadata_of(article: Article) -> dict[str, str]:
    return {
        "title": article.title,
        "language": article.language,
        "topic": article.topic,
        "country": article.country,
        "last_reviewed": article.last_reviewed,
        "source": article.source,
        "content_hash": article.content_hash,
    }
