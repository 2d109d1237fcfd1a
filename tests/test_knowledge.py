"""The knowledge base: passages, incremental ingestion, hybrid retrieval per language, answers."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from backend.config import get_settings
from backend.knowledge import evaluation, service
from backend.knowledge.articles import read_article
from backend.knowledge.fusion import DEFAULT_WEIGHTS
from backend.knowledge.index import forget_indexes, knowledge_index
from backend.knowledge.passages import excerpt, split_article
from backend.knowledge.store import ingest
from tests.stack import REPO

ARTICLES = REPO / "knowledge" / "articles"
BACKGROUND = REPO / "knowledge" / "background"
LANGUAGES = ("pt_BR", "es", "it", "en")
OPEN_GATE = service.Gate(threshold=-1.0, background_weight=0.0)


def default_gate() -> service.Gate:
    settings = get_settings()
    return service.Gate.from_settings(settings)


@pytest.fixture(scope="module")
def store() -> Path:
    """The project's own store, brought in line with the articles and background messages.

    `./run setup` has normally done it already, and then nothing is embedded again.
    """
    folder = get_settings().knowledge_store_dir
    report = ingest(
        articles_dir=ARTICLES, persist_directory=folder, background_dir=BACKGROUND, progress=False
    )
    if report.added or report.removed:
        forget_indexes()  # one built earlier in this process holds the old entries
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
def test_the_guide_quoted_first_is_the_right_one_for_nine_questions_in_ten(store, language):
    """What the person reads: the first guide, after the "I don't know" gate, per language."""
    index = knowledge_index(store)
    asked, unrelated = evaluation.collect(index, language)
    found = evaluation.report(
        index, language, asked, unrelated, weights=DEFAULT_WEIGHTS, gate=default_gate()
    )

    assert found.questions >= 35
    assert found.hit_at_1 >= 0.9, found.missed
    assert found.hit_at_3 >= 0.95, found.missed
    assert found.unrelated >= 20 and found.unrelated_answered == 0


@pytest.mark.parametrize(
    ("language", "question", "topic"),
    [  # the three the issue found answered from a neighbouring guide, as debtors ask them
        ("en", "i owe rent, a card and a car loan. which do i pay first??", "prioritising-debts"),
        ("en", "can a debt collector call me at 10 at night?", "debtors-rights"),
        ("pt_BR", "a cobranca pode me ligar de madrugada ou no domingo?", "debtors-rights"),
        ("es", "pueden llamarme los de recobro a las 11 de la noche?", "debtors-rights"),
        ("it", "a che ora possono telefonarmi per un debito? chiamano alle 22", "debtors-rights"),
        ("pt_BR", "qual divida eu pago primeiro, o cartao ou o aluguel", "prioritising-debts"),
    ],
)  # fmt: skip
def test_questions_the_neighbouring_guides_used_to_answer(store, language, question, topic):
    answer = service.search(
        question=question, language=language, persist_directory=store, k=3, gate=default_gate()
    )
    assert answer.passages and answer.passages[0].topic == topic, answer.passages[:1]


def test_articles_are_split_on_their_headings_and_quoted_in_whole_sentences():
    article = read_article(ARTICLES / "en" / "prioritising-debts.md")
    passages = split_article(article)

    assert passages[0].heading == "" and passages[0].text.startswith("When money is tight")
    headings = [p.heading for p in passages]
    assert "First: protect the essentials" in headings and "The avalanche method" in headings
    avalanche = passages[headings.index("The avalanche method")]
    assert avalanche.parent_heading == "Then: choose a payoff strategy"
    assert all("**" not in p.text and "## " not in p.text for p in passages)
    for passage in passages:
        quoted = excerpt(passage.blocks)
        assert quoted and quoted[-1] in ".!?:…", quoted  # never cut inside a sentence
        assert not quoted.startswith(passage.heading) or not passage.heading
    assert excerpt(passages[2].blocks, limit=80).endswith(".")  # shorter: whole sentences


@pytest.mark.parametrize("language", LANGUAGES)
def test_tell_me_more_from_the_start_quotes_every_word_of_a_guide(language):
    """Quoted passage after passage, a guide is read whole: nothing skipped between quotes."""
    for path in sorted((ARTICLES / language).glob("*.md")):
        passages = split_article(read_article(path))
        assert [excerpt(p.blocks) for p in passages] == [p.text for p in passages], path


def test_answers_are_in_the_asked_language_one_per_guide_with_the_next_passage(store):
    answer = service.search(
        question="como montar um orçamento mensal?",
        language="pt_BR",
        persist_directory=store,
        k=3,
        gate=default_gate(),
    )

    assert answer.language == "pt_BR" and not answer.fell_back
    assert answer.passages[0].topic == "budgeting"
    assert all(passage.language == "pt_BR" and passage.title for passage in answer.passages)
    assert len({passage.topic for passage in answer.passages}) == len(answer.passages)
    first = answer.passages[0]
    following = service.passage(passage_id=first.next_id, persist_directory=store)
    assert following.topic == "budgeting" and following.excerpt != first.excerpt


def test_an_answer_from_a_guides_last_passage_goes_on_from_the_guides_start(store):
    index = knowledge_index(store)
    last = max(
        (p for p in index.passages.values() if p.language == "en" and p.topic == "budgeting"),
        key=lambda p: p.number,
    )
    assert last.next_id is None  # read in order, the guide ends there

    answer = service.search(
        question=" ".join(last.blocks), language="en", persist_directory=store, k=1,
        gate=default_gate(),
    )  # fmt: skip

    assert answer.passages[0].id == last.id
    assert answer.passages[0].next_id == "en/budgeting#0"


def test_unrelated_questions_get_no_answer_at_the_default_settings(store):
    for language, question in (
        ("en", "who won the 1998 football world cup?"),
        ("pt_BR", "receita de bolo de cenoura"),
        ("es", "q tiempo hace mañana en sevilla"),
        ("it", "mi consigli una serie tv da guardare stasera?"),
    ):
        answer = service.search(
            question=question, language=language, persist_directory=store, k=3, gate=default_gate()
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
        gate=default_gate(),
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

    assert first.added == 12 and first.chunks > 4 * 12  # a passage per section
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
    best = body["passages"][0]
    assert best["topic"] == "simple-vs-compound-interest" and best["title"]
    assert best["id"].startswith("en/simple-vs-compound-interest#")

    following = client.get(f"/api/v1/knowledge/passages/{quote(best['next_id'], safe='')}")
    assert following.status_code == 200
    assert following.json()["id"] == best["next_id"] and following.json()["score"] is None
    missing = client.get(f"/api/v1/knowledge/passages/{quote('en/no-such-guide#0', safe='')}")
    assert missing.status_code == 404


def test_a_generative_answer_is_grounded_cited_and_treats_passages_as_data(store):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from backend.knowledge import generative

    answer = service.search(
        question="what is compound interest?",
        language="en",
        persist_directory=store,
        k=3,
        gate=OPEN_GATE,
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
