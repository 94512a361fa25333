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
    return IntentModel.fit(*examples(*sorted((ROOT / "data" / "nlu").glob("*.yml"))))


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
    assert all(len(p["ranking"]) <= 10 for p in parts)
    assert PARTS_KEY not in single.as_dict(only_output_properties=True)
    assert single.get("intent")["name"] == "kb_senco"
