"""Custom Rasa NLU components, named in config.yml.

- ``SenIntentClassifier`` classifies intents from mean-pooled all-MiniLM-L6-v2 sentence
  embeddings plus TF-IDF words and character n-grams (see bot/assistant/intent_model.py, and
  docs/measurements.md for why this beat DIET here).
- ``SafeguardingOverride`` runs the deterministic safeguarding phrase check, then a trained
  classifier of risk by meaning, on every message after the classifiers and, on a match, makes
  ``safeguarding`` the intent with confidence 1.0 whatever the classifier said. Safety does not
  rest on the classifier alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.assistant import replies
from bot.assistant.intent_model import IntentModel, training_fingerprint
from bot.assistant.risk_model import RiskModel, risk_fingerprint
from bot.assistant.safeguarding import (
    POSSIBLE,
    RISK,
    SAFETY_KEY,
    SafeguardingMatch,
    SemanticRiskCheck,
    assess_message,
)
from bot.assistant.understanding import MAX_PARTS, asking_parts
from bot.contract import BEYOND_KEY, PARTS_KEY, SAFEGUARDING_INTENT, article_for_intent

# The cost of reading a message is bounded whatever its length: at most this many asking parts
# are classified, each read up to this many words (the encoder reads the whole message up to its
# 128 tokens; the safeguarding phrase check reads all of it).
MAX_READ_PARTS = MAX_PARTS
PART_WORDS = 25


def _bounded(part: str) -> str:
    words = part.split()
    return part if len(words) <= PART_WORDS else " ".join(words[-PART_WORDS:])


class _StoredComponent(GraphComponent):
    """A trainable component that keeps what it learned in Rasa's model storage."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> _StoredComponent:
        return cls(config, model_storage, resource)

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource):
        self.config = config
        self.model_storage = model_storage
        self.resource = resource


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class SenIntentClassifier(_StoredComponent, IntentClassifier):
    """Logistic regression over sentence embeddings plus word and character TF-IDF.

    The embedding carries meaning ("who runs special needs at school" ~ "what is a SENCO"); the
    TF-IDF features carry the exact acronyms and typos parents use. Persisted as plain arrays and
    JSON (no pickle), so loading a model cannot run code.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "C": 20.0,
            "max_iter": 3000,
            "ranking_length": 10,
            # Each asking part of a longer message is classified beside the whole message:
            # its probabilities weigh this much, the whole message's the rest.
            "part_weight": 0.85,
            "parts_ranking_length": 10,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn", "tokenizers", "safetensors"]

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Retrain when the model's code or its cue groups change, not only its data: Rasa's
        training cache would otherwise keep a classifier built by older code."""
        return training_fingerprint()

    model: IntentModel | None = None

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(TEXT) and m.get(INTENT)]
        texts = [m.get(TEXT) for m in examples]
        labels = [m.get(INTENT) for m in examples]
        self.model = IntentModel.fit(
            texts,
            labels,
            C=self.config["C"],
            max_iter=self.config["max_iter"],
            answered={label for label in labels if article_for_intent(label)},
            beyond=set(replies.topics()),
        )
        with self.model_storage.write_to(self.resource) as directory:
            self.model.save(Path(directory))
        return self.resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SenIntentClassifier:
        component = cls(config, model_storage, resource)
        try:
            with model_storage.read_from(resource) as directory:
                component.model = IntentModel.load(Path(directory))
        except (ValueError, FileNotFoundError):
            pass  # not trained (no intent examples): the classifier stays silent
        return component

    def process(self, messages: list[Message]) -> list[Message]:
        if self.model is None:
            return messages
        for message in messages:
            self._classify(message)
        return messages

    def _classify(self, message: Message) -> None:
        """The whole message's intent and, for a message asking more than one thing, each part's.

        The main intent is the whole message's: measured on real parents' questions (dev split),
        reading the whole message beat reading its question alone, because the background a
        parent writes first is what says which topic "what can I do?" is about. ``parts`` (in
        the parse data when a message has two or more asking parts) gives the responder each
        question's ranking, read beside the whole message, to answer up to three topics at once.
        """
        assert self.model is not None
        text = message.get(TEXT) or ""
        parts = [_bounded(part) for part in asking_parts(text)[:MAX_READ_PARTS]]
        if len(parts) < 2:
            parts = []
        rows, beyond = self.model.read([text, *parts])
        whole, part_rows = rows[0], rows[1:]
        ranking = self.model.ranked(whole, self.config["ranking_length"])
        message.set(INTENT, ranking[0], add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        if beyond is not None:
            message.set(BEYOND_KEY, round(float(beyond[0]), 4), add_to_output=True)
        if parts:
            weight = float(self.config["part_weight"])
            described = []
            for i, (part, row) in enumerate(zip(parts, part_rows, strict=True)):
                entry: dict[str, Any] = {
                    "text": part,
                    "ranking": self.model.ranked(
                        weight * row + (1.0 - weight) * whole, self.config["parts_ranking_length"]
                    ),
                }
                if beyond is not None:
                    share = weight * beyond[i + 1] + (1.0 - weight) * beyond[0]
                    entry[BEYOND_KEY] = round(float(share), 4)
                described.append(entry)
            message.set(PARTS_KEY, described, add_to_output=True)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class SafeguardingOverride(_StoredComponent):
    """Makes ``safeguarding`` the intent when a message suggests risk, whatever the model said.

    Two nets: the deterministic phrase check, then a trained classifier of risk by meaning over
    each clause and the whole message (``SemanticRiskCheck``, bot/assistant/risk_model.py).
    Training embeds the NLU examples and the examples in knowledge/safeguarding/ and stores the
    classifier's weights with the model (NumPy arrays, no pickle); an edit to those files retrains
    it (``fingerprint_addon``).
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # The classifier's score (0-1) for a clear risk (the full reply) and for a possible
            # risk (answered as usual, with a short safety line).
            "risk_threshold": 0.6,
            "possible_threshold": 0.2,
            # A word of risk found by the phrase check (CUE_PATTERNS) is a clear risk from this
            # score up; below it the classifier's own level decides.
            "cue_threshold": 0.3,
            # Logistic regression: inverse regularisation, and how much the positives weigh in
            # all (1.0: as much as all the negatives together).
            "C": 10.0,
            "positive_weight": 1.0,
            # The intent classifier's own view: safeguarding as its top intent is a clear risk;
            # this much of its belief in safeguarding is a possible risk.
            "classifier_risk": True,
            "classifier_possible": 0.1,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn", "tokenizers", "safetensors"]

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Retrain when the classifier's code or its examples outside the NLU data change."""
        return risk_fingerprint()

    semantic: SemanticRiskCheck | None = None

    @staticmethod
    def _thresholds(config: dict[str, Any]) -> dict[str, float]:
        return {
            "threshold": float(config["risk_threshold"]),
            "possible_threshold": float(config["possible_threshold"]),
            "cue_threshold": float(config["cue_threshold"]),
        }

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(TEXT)]
        self.semantic = SemanticRiskCheck.build(
            [m.get(TEXT) for m in examples if m.get(INTENT) == SAFEGUARDING_INTENT],
            [m.get(TEXT) for m in examples if m.get(INTENT) != SAFEGUARDING_INTENT],
            C=float(self.config["C"]),
            positive_weight=float(self.config["positive_weight"]),
            **self._thresholds(self.config),
        )
        with self.model_storage.write_to(self.resource) as directory:
            self.semantic.model.save(Path(directory))
        return self.resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SafeguardingOverride:
        component = cls(config, model_storage, resource)
        try:
            with model_storage.read_from(resource) as directory:
                model = RiskModel.load(Path(directory))
            component.semantic = SemanticRiskCheck(model, **cls._thresholds(config))
        except (ValueError, FileNotFoundError):
            pass  # untrained: the phrase check still runs
        return component

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            level, found = self._level(message)
            if level == RISK:
                intent = {"name": SAFEGUARDING_INTENT, "confidence": 1.0}
                ranking = [
                    r
                    for r in message.get(INTENT_RANKING_KEY) or []
                    if r.get("name") != intent["name"]
                ]
                message.set(INTENT, intent, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [intent, *ranking], add_to_output=True)
            elif level == POSSIBLE:
                why = found.category if found else "classifier"
                message.set(SAFETY_KEY, {"level": POSSIBLE, "why": why}, add_to_output=True)
        return messages

    def _level(self, message: Message) -> tuple[str | None, SafeguardingMatch | None]:
        """The higher of the safeguarding checks' level (``assess_message``: the phrase check and
        the risk classifier) and the intent classifier's."""
        level, found = assess_message(message.get(TEXT), self.semantic)
        if level == RISK:
            return level, found
        heard = self._classifier_level(message)
        if heard == RISK or (heard == POSSIBLE and level is None):
            return heard, None
        return level, found

    def _classifier_level(self, message: Message) -> str | None:
        """The intent classifier's own view: safeguarding as the intent is a risk; safeguarding
        with a little of its belief (``classifier_possible``) is a possible risk."""
        top = (message.get(INTENT) or {}).get("name")
        if top == SAFEGUARDING_INTENT and self.config["classifier_risk"]:
            return RISK
        for entry in message.get(INTENT_RANKING_KEY) or []:
            if entry.get("name") == SAFEGUARDING_INTENT:
                if float(entry.get("confidence", 0)) >= self.config["classifier_possible"]:
                    return POSSIBLE
        return None
