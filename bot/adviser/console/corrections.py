"""Corrections advisers make to the bot: "this turn was wrong, the right topic is X".

Exported as Rasa NLU YAML, ready to add to ``data/nlu/``, with personal data redacted.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
import yaml

from bot.assistant.redaction import redact
from bot.cases.db import engine_with_tables

_metadata = sa.MetaData()
corrections_table = sa.Table(
    "console_corrections",
    _metadata,
    sa.Column("conversation_id", sa.String(255), primary_key=True),
    sa.Column("turn_index", sa.Integer, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("predicted_intent", sa.String(64)),
    sa.Column("intent", sa.String(64), nullable=False),
    sa.Column("adviser", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


class Corrections:
    def __init__(self, url: str) -> None:
        self.engine = engine_with_tables(url, _metadata)

    def mark(
        self,
        conversation_id: str,
        turn_index: int,
        text: str,
        predicted: str | None,
        intent: str,
        adviser: str,
    ) -> None:
        """Record (or change) the right intent for one parent message."""
        key = (corrections_table.c.conversation_id == conversation_id) & (
            corrections_table.c.turn_index == turn_index
        )
        values = {
            "text": text,
            "predicted_intent": predicted,
            "intent": intent,
            "adviser": adviser,
            "created_at": datetime.now(timezone.utc),
        }
        with self.engine.begin() as db:
            if not db.execute(corrections_table.update().where(key).values(**values)).rowcount:
                db.execute(
                    corrections_table.insert().values(
                        conversation_id=conversation_id, turn_index=turn_index, **values
                    )
                )

    def all(self) -> list[dict]:
        query = sa.select(corrections_table).order_by(corrections_table.c.created_at.desc())
        with self.engine.connect() as db:
            return [dict(row._mapping) for row in db.execute(query)]

    def for_conversation(self, conversation_id: str) -> list[dict]:
        query = sa.select(corrections_table).where(
            corrections_table.c.conversation_id == conversation_id
        )
        with self.engine.connect() as db:
            return [dict(row._mapping) for row in db.execute(query)]

    def delete_conversation(self, conversation_id: str) -> int:
        with self.engine.begin() as db:
            return db.execute(
                corrections_table.delete().where(
                    corrections_table.c.conversation_id == conversation_id
                )
            ).rowcount

    def delete_older_than(self, cutoff: datetime) -> int:
        with self.engine.begin() as db:
            return db.execute(
                corrections_table.delete().where(corrections_table.c.created_at < cutoff)
            ).rowcount


# Redaction labels become neutral stand-ins: square brackets mean entities in Rasa's NLU format,
# and a natural example trains better than a label.
STAND_INS = {
    "[NAME]": "Alex",
    "[EMAIL]": "parent@example.org",
    "[PHONE]": "01632 960000",
    "[POSTCODE]": "AB1 2CD",
    "[ADDRESS]": "1 Example Road",
    "[DATE OF BIRTH]": "1 January 2015",
    "[DATE]": "1 January 2015",
    "[SCHOOL]": "Example Primary School",
}


def training_example(text: str) -> str:
    text = redact(text)
    for label, stand_in in STAND_INS.items():
        text = text.replace(label, stand_in)
    return " ".join(text.replace("[", "(").replace("]", ")").split())


def corrections_yaml(rows: list[dict]) -> str:
    """Rasa 3 NLU training data: one block per intent, examples redacted and de-duplicated."""
    by_intent: dict[str, list[str]] = {}
    for row in rows:
        text = training_example(row["text"])
        if text and not text.startswith("/") and text not in by_intent.get(row["intent"], []):
            by_intent.setdefault(row["intent"], []).append(text)
    nlu = [
        {"intent": intent, "examples": "".join(f"- {text}\n" for text in examples)}
        for intent, examples in sorted(by_intent.items())
    ]

    class Literal(str):
        pass

    def literal(dumper: yaml.Dumper, value: Literal) -> yaml.Node:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")

    yaml.add_representer(Literal, literal, Dumper=yaml.SafeDumper)
    for block in nlu:
        block["examples"] = Literal(block["examples"])
    header = (
        "# Corrections made by advisers in the console, personal data redacted.\n"
        "# Review, then add to the matching file in data/nlu/ and retrain.\n"
    )
    body = yaml.safe_dump(
        {"version": "3.1", "nlu": nlu}, sort_keys=False, allow_unicode=True, width=1000
    )
    return header + body
