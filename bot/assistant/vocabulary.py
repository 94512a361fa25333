"""Parents' words for the things the guidance names, and the spaCy pipeline built from them.

No pretrained English pipeline can be downloaded here, so the NLU pipeline uses spaCy's blank
English tokenizer and an ``entity_ruler`` that tags the professionals a parent names however they
spell them ("Ed Psych", "EP", "SLT", "speech and language"). The answer action uses the entity's
article id to refine an answer: "can the school get a SALT in" answers from the speech and
language therapist article, not the general one about specialists.
"""

from __future__ import annotations

from pathlib import Path

from bot.settings import ROOT

# article id -> the ways parents write it (matched case-insensitively, token by token)
SPECIALISTS: dict[str, list[str]] = {
    "educational-psychologist": [
        "ep",
        "eps",
        "ed psych",
        "ed psychs",
        "ed psychologist",
        "edpsych",
        "educational psychologist",
        "educational psychologists",
        "education psychologist",
        "educational psych",
        "edu psych",
        "school psychologist",
        "psychologist",
    ],
    "speech-language-therapist": [
        "salt",
        "slt",
        "speech and language therapist",
        "speech and language therapy",
        "speech and language",
        "speech therapist",
        "speech therapy",
        "speech & language",
        "speech n language",
        "salt team",
        "speech language therapist",
    ],
    "occupational-therapist": [
        "ot",
        "occupational therapist",
        "occupational therapy",
        "occ therapist",
        "occupational health therapist",
    ],
    "specialist-teacher": [
        "specialist teacher",
        "specialist teachers",
        "outreach teacher",
        "outreach",
        "outreach service",
        "advisory teacher",
        "specialist teaching service",
    ],
}

ENTITY_LABEL = "specialist"
SPACY_DIR = ROOT / "build" / "spacy-en-sen"


def article_for_entity(value: str) -> str | None:
    """The article id for a specialist as a parent wrote it, or None."""
    wanted = " ".join(value.lower().split())
    for article_id, phrases in SPECIALISTS.items():
        if wanted in phrases:
            return article_id
    return None


def entity_patterns() -> list[dict]:
    patterns = []
    for article_id, phrases in SPECIALISTS.items():
        for phrase in phrases:
            tokens = [{"LOWER": part} for part in phrase.split()]
            patterns.append({"label": ENTITY_LABEL, "pattern": tokens, "id": article_id})
    return patterns


def build_spacy_pipeline(target: Path = SPACY_DIR) -> Path:
    """Write a blank English pipeline with the entity ruler to ``target``."""
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    nlp.initialize()
    ruler.add_patterns(entity_patterns())
    nlp.meta["name"] = "en_sen_rules"
    nlp.meta["description"] = "Blank English + SEN entity ruler (built locally)"
    target.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(target)
    return target
