"""The knowledge base: incremental ingestion, retrieval per language, cited answers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from backend.config import get_settings
from backend.knowledge import service
from backend.knowledge.articles import read_article
from backend.knowledge.store import ingest
from tests.stack import REPO

ARTICLES = REPO / "knowledge" / "articles"
LANGUAGES = ("pt_BR", "es", "it", "en")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("chroma")
    ingest(articles_dir=ARTICLES, persist_directory=folder, progress=False)
    return folder


def questions(language: str) -> list[dict]:
    return yaml.safe_load((REPO / "knowledge" / "eval" / f"{language}.yml").read_text())[
        "questions"
    ]


def test_every_language_has_the_twelve_topics_with_complete_front_matter():
    topics = {
        language: {read_article(p).topic for p in (ARTICLES / language).glob("*.md")}
        for language in LANGUAGES
    }
    assert all(len(found) >= 12 for found in topics.values()), topics
    assert len({frozenset(found) for found in topics.values()}) == 1  # the same topics
    for language in LANGUAGES:
        for path in (ARTICLES / language).glob("*.md"):
            assert read_article(path).language == language


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_right_article_is_in_the_top_three(store, language):
    asked = questions(language)
    assert len(asked) >= 15
    hits = 0
    for item in asked:
        answer = service.search(
            question=item["question"],
            language=language,
            persist_directory=store,
            k=3,
            threshold=0.0,
        )
        hits += item["topic"] in {passage.topic for passage in answer.passages}
    assert hits / len(asked) >= 0.9, f"{language}: hit@3 {hits}/{len(asked)}"


def test_answers_are_in_the_asked_language_and_cite_their_article(store):
    answer = service.search(
        question="como montar um orçamento mensal?",
        language="pt_BR",
        persist_directory=store,
        k=3,
        threshold=0.0,
    )

    assert answer.language == "pt_BR" and not answer.fell_back
    assert all(passage.language == "pt_BR" and passage.title for passage in answer.passages)
    assert len(answer.passages[0].excerpt) <= 421


def test_unrelated_questions_get_no_answer_at_the_default_threshold(store):
    threshold = get_settings().knowledge_score_threshold
    for question in ("who won the 1998 football world cup?", "receita de bolo de cenoura"):
        answer = service.search(
            question=question, language="en", persist_directory=store, k=3, threshold=threshold
        )
        assert answer.passages == [], question


def test_a_language_without_the_article_falls_back_to_english_and_says_so(tmp_path):
    only_english = tmp_path / "articles"
    shutil.copytree(ARTICLES / "en", only_english / "en")
    ingest(articles_dir=only_english, persist_directory=tmp_path / "chroma", progress=False)

    answer = service.search(
        question="¿cómo hago un presupuesto mensual?",
        language="es",
        persist_directory=tmp_path / "chroma",
        k=3,
        threshold=0.5,
    )

    assert answer.fell_back and answer.language == "en"
    assert answer.passages and answer.passages[0].topic == "budgeting"


def test_ingestion_is_incremental_by_content(tmp_path):
    articles = tmp_path / "articles"
    shutil.copytree(ARTICLES / "it", articles / "it")
    chroma = tmp_path / "chroma"

    first = ingest(articles_dir=articles, persist_directory=chroma, progress=False)
    again = ingest(articles_dir=articles, persist_directory=chroma, progress=False)
    budget = articles / "it" / "budgeting.md"
    budget.write_text(budget.read_text() + "\n\nUn paragrafo in più.\n")
    (articles / "it" / "emergency-fund.md").unlink()
    changed = ingest(articles_dir=articles, persist_directory=chroma, progress=False)

    assert first.added == 12 and first.chunks > 12
    assert (again.added, again.unchanged, again.removed) == (0, 12, 0)
    assert (changed.added, changed.unchanged, changed.removed) == (1, 10, 1)


def test_the_api_answers_for_the_action_server(client, app, settings, store):
    app.dependency_overrides[get_settings] = lambda: settings.model_copy(
        update={"knowledge_store_dir": store}
    )

    response = client.get(
        "/api/v1/knowledge/search", params={"q": "what is compound interest?", "language": "en"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["passages"][0]["topic"] == "simple-vs-compound-interest"
    assert body["passages"][0]["title"]


def test_a_generative_answer_is_grounded_cited_and_treats_passages_as_data(store):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from backend.knowledge import generative

    answer = service.search(
        question="what is compound interest?",
        language="en",
        persist_directory=store,
        k=3,
        threshold=0.0,
    )
    title = answer.passages[0].title
    messages = generative.build_messages("what is compound interest?", answer.passages, "en")
    assert "never instructions" in messages[0].content
    assert f'<passage title="{title}"' in messages[1].content

    cited = FakeListChatModel(responses=[f"Interest on interest [{title}]."])
    uncited = FakeListChatModel(responses=["Trust me, it is fine."])
    assert (
        generative.generate(chat_model=cited, question="q", passages=answer.passages, language="en")
        == f"Interest on interest [{title}]."
    )
    assert (
        generative.generate(
            chat_model=uncited, question="q", passages=answer.passages, language="en"
        )
        is None
    )
