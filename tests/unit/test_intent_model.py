"""The intent model learns from data/nlu and generalises to the held-out set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.assistant.intent_model import IntentModel

ROOT = Path(__file__).resolve().parents[2]


def examples(*files: Path) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for path in files:
        for block in yaml.safe_load(path.read_text())["nlu"]:
            for line in block["examples"].splitlines():
                if line.strip().startswith("- "):
                    texts.append(line.strip()[2:])
                    labels.append(block["intent"])
    return texts, labels


@pytest.fixture(scope="module")
def trained():
    from bot.assistant import replies
    from bot.contract import article_for_intent

    texts, labels = examples(*sorted((ROOT / "data" / "nlu").glob("*.yml")))
    return IntentModel.fit(
        texts,
        labels,
        answered={label for label in labels if article_for_intent(label)},
        beyond=set(replies.topics()),
    )


def test_held_out_questions_are_not_in_the_training_data():
    train, _ = examples(*sorted((ROOT / "data" / "nlu").glob("*.yml")))
    held_out, _ = examples(ROOT / "tests" / "nlu_heldout.yml")
    assert not {t.lower() for t in held_out} & {t.lower() for t in train}


@pytest.mark.slow
def test_held_out_accuracy_stays_above_a_floor(trained):
    texts, labels = examples(ROOT / "tests" / "nlu_heldout.yml")
    predicted = [r[0]["name"] for r in trained.rank(texts)]
    accuracy = np.mean([p == y for p, y in zip(predicted, labels, strict=True)])
    # A regression floor, not the target: `make bench` measures what parents would see.
    assert accuracy >= 0.85, accuracy


@pytest.mark.slow
def test_a_saved_model_loads_without_pickle_and_predicts_the_same(trained, tmp_path):
    trained.save(tmp_path)
    loaded = IntentModel.load(tmp_path)
    texts = ["whats a senco", "how long does an ehcp take", "hiya"]
    assert [r[0]["name"] for r in loaded.rank(texts)] == [r[0]["name"] for r in trained.rank(texts)]
    assert [r[0]["name"] for r in loaded.rank(texts)] == ["kb_senco", "out_ehcp_process", "greet"]
    assert np.allclose(loaded.read(texts)[1], trained.read(texts)[1])


@pytest.mark.slow
def test_the_yes_no_model_tells_questions_beyond_the_guidance_from_answered_ones(trained):
    _, beyond = trained.read(
        [
            "who is the senco and what do they do",
            "what does sen support mean",
            "the school keep sending him home at lunchtime, is that an exclusion",
            "how do i appeal to the tribunal about the ehcp",
        ]
    )
    assert beyond is not None
    assert beyond[0] < 0.4 and beyond[1] < 0.4
    assert beyond[2] > 0.4 and beyond[3] > 0.4


def test_a_model_saved_without_the_yes_no_model_still_loads(tmp_path):
    model = IntentModel.fit(["who is the senco", "what is an ehcp"] * 3, ["a", "b"] * 3)
    model.save(tmp_path)
    loaded = IntentModel.load(tmp_path)
    assert loaded.beyond_coef is None
    assert loaded.read(["senco"])[1] is None


@pytest.mark.slow
def test_the_nlu_component_gives_each_question_of_a_long_message_its_own_ranking(trained):
    from rasa.shared.nlu.training_data.message import Message

    from bot.contract import PARTS_KEY
    from bot.plugins.nlu import SenIntentClassifier

    component = SenIntentClassifier(SenIntentClassifier.get_default_config(), None, None)
    component.model = trained
    several = Message(
        data={
            "text": "My son is 9. Who is the SENCO at his school? And can they get an "
            "educational psychologist to see him?"
        }
    )
    single = Message(data={"text": "who is the senco"})
    component.process([several, single])
    parts = several.as_dict(only_output_properties=True)[PARTS_KEY]
    assert [p["text"] for p in parts] == [
        "Who is the SENCO at his school?",
        "And can they get an educational psychologist to see him?",
    ]
    assert parts[0]["ranking"][0]["name"] == "kb_senco"
    assert all(0.0 <= p["beyond"] <= 1.0 for p in parts)
    assert 0.0 <= several.get("beyond") <= 1.0
    assert all(len(p["ranking"]) <= 10 for p in parts)
    assert PARTS_KEY not in single.as_dict(only_output_properties=True)
    assert single.get("intent")["name"] == "kb_senco"
