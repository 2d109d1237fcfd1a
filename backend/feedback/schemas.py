"""Request shapes for CSAT scores."""

from pydantic import BaseModel, Field


# A score from 1 (very unhappy) to 5 (very happy), with an optional comment.
class CsatCreate(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=1000)
