"""Route for the action server: general financial-education questions."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from backend.deps import SettingsDep
from backend.enums import Language
from backend.exceptions import NotFound
from backend.knowledge import generative, service

log = logging.getLogger(__name__)

router = APIRouter(prefix="/knowledge", tags=["knowledge"])


class PassageRead(BaseModel):
    """One passage of a guide, quoted in whole sentences; `next_id` is for "tell me more"."""

    id: str
    title: str
    heading: str  # the section's heading; empty for the guide's opening paragraphs
    topic: str
    language: str
    country: str
    excerpt: str
    score: float | None  # the guide's similarity to the question; None when fetched by id
    next_id: str | None


class AnswerRead(BaseModel):
    language: str
    fell_back: bool
    passages: list[PassageRead]
    generated: str | None = None  # only when a chat model is configured


@router.get("/search", response_model=AnswerRead)
def search(
    settings: SettingsDep,
    q: Annotated[str, Query(min_length=2, max_length=500)],
    language: Language = Language.EN,
) -> AnswerRead:
    answer = service.search(
        question=q,
        language=language.value,
        persist_directory=settings.knowledge_store_dir,
        k=settings.knowledge_top_k,
        gate=service.Gate.from_settings(settings),
    )
    generated = None
    if settings.knowledge_chat_provider and settings.knowledge_chat_model and answer.passages:
        try:
            chat_model = generative.chat_model_from_settings(
                settings.knowledge_chat_provider,
                settings.knowledge_chat_model,
                settings.knowledge_chat_timeout_seconds,
            )
            generated = generative.generate(
                chat_model=chat_model,
                question=q,
                passages=answer.passages,
                language=answer.language,
            )
        except Exception:  # the extractive answer still stands
            log.exception("generative answer failed")
    return AnswerRead(
        language=answer.language,
        fell_back=answer.fell_back,
        passages=[PassageRead(**p.__dict__) for p in answer.passages],
        generated=generated,
    )


@router.get(
    "/passages/{passage_id:path}",
    response_model=PassageRead,
    responses={404: {"description": "no passage with this id"}},
)
def read_passage(
    settings: SettingsDep,
    passage_id: Annotated[str, Path(min_length=3, max_length=200)],
) -> PassageRead:
    """A guide's passage by id ("<language>/<topic>#<n>"): the next one after "tell me more"."""
    found = service.passage(passage_id=passage_id, persist_directory=settings.knowledge_store_dir)
    if found is None:
        raise NotFound("unknown passage", reason_code="passage_not_found")
    return PassageRead(**found.__dict__)
