"""Articles cut on their own structure: a heading with its paragraphs is one passage.

The lead paragraphs (before the first heading) are passage 0, with no heading. Every `##` or
`###` heading starts a passage; a `###` passage keeps its `##` parent as context for search. A
section longer than `MAX_PASSAGE_CHARS` is split between paragraphs, each piece keeping its
heading. Text is kept as plain sentences (Markdown marks removed, list items as sentences), so an
answer can quote whole sentences and never a heading glued to one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backend.knowledge.articles import Article

MAX_PASSAGE_CHARS = 900
_HEADING = re.compile(r"^(#{2,6})\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_INLINE_MARKS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
# A sentence ends at . ! ? or … followed by space and a capital letter, a digit-free opening
# mark or a quote: "art. 119" and "e.g. the" stay whole.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”»)]?\s+(?=[\"“«(¿¡]?[A-ZÀ-ÖØ-Þ])")


@dataclass(frozen=True)
class ArticlePassage:
    id: str  # "<language>/<topic>#<n>"
    number: int
    heading: str  # "" for the lead paragraphs
    parent_heading: str  # the `##` above a `###` heading, else ""
    blocks: tuple[str, ...]  # paragraphs and list items, as plain text

    @property
    def text(self) -> str:
        return " ".join(self.blocks)


def passage_id(language: str, topic: str, number: int) -> str:
    return f"{language}/{topic}#{number}"


def split_article(article: Article) -> list[ArticlePassage]:
    sections: list[tuple[str, str, list[str]]] = [("", "", [])]
    parent = ""
    for block in _blocks(article.body):
        heading = _HEADING.match(block)
        if heading:
            level, text = len(heading.group(1)), plain(heading.group(2))
            if level == 2:
                parent = text
                sections.append((text, "", []))
            else:
                sections.append((text, parent, []))
        else:
            sections[-1][2].append(block)
    passages: list[ArticlePassage] = []
    for heading, parent_heading, blocks in sections:
        for piece in _pieces([plain(b) for b in blocks if plain(b)]):
            number = len(passages)
            passages.append(
                ArticlePassage(
                    id=passage_id(article.language, article.topic, number),
                    number=number,
                    heading=heading,
                    parent_heading=parent_heading,
                    blocks=tuple(piece),
                )
            )
    return passages


def summary_of(article: Article, passages: list[ArticlePassage]) -> str:
    """The front matter's summary, else the lead paragraphs: what the guide is about."""
    if article.summary:
        return article.summary
    lead = [p for p in passages if not p.heading]
    return lead[0].text if lead else ""


def plain(markdown: str) -> str:
    """One block of Markdown as plain text on one line."""
    text = _LIST_ITEM.sub("", markdown)
    text = _LINK.sub(r"\1", text)
    for _ in range(2):  # bold inside italics
        text = _INLINE_MARKS.sub(r"\2", text)
    text = re.sub(r"^>\s?", "", text, flags=re.MULTILINE)
    return " ".join(text.split())


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def excerpt(blocks: tuple[str, ...] | list[str], limit: int | None = None) -> str:
    """Whole sentences from the start of a passage: all of them, or about `limit` characters.

    With a limit the first sentence is still whole, however long; a list item is one sentence.
    Quoted whole, passage after passage, a guide is read with nothing skipped.
    """
    chosen: list[str] = []
    size = 0
    for block in blocks:
        for sentence in sentences(block):
            if limit is not None and chosen and size + len(sentence) + 1 > limit:
                return " ".join(chosen)
            chosen.append(sentence)
            size += len(sentence) + 1
    return " ".join(chosen)


def _blocks(body: str) -> list[str]:
    """Paragraphs, list items and headings, each as one block of source lines."""
    blocks: list[str] = []
    current: list[str] = []

    def close() -> None:
        if current:
            blocks.append("\n".join(current))
            current.clear()

    for line in body.splitlines():
        if not line.strip():
            close()
        elif _HEADING.match(line) or _LIST_ITEM.match(line):
            close()
            current.append(line)
            if _HEADING.match(line):
                close()
        else:
            current.append(line)
    close()
    return blocks


def _pieces(blocks: list[str]) -> list[list[str]]:
    """Blocks grouped into pieces of at most MAX_PASSAGE_CHARS (a longer block stays whole)."""
    pieces: list[list[str]] = []
    size = 0
    for block in blocks:
        if not pieces or (size + len(block) > MAX_PASSAGE_CHARS and pieces[-1]):
            pieces.append([])
            size = 0
        pieces[-1].append(block)
        size += len(block) + 1
    return pieces
