"""Content is content: no sentence a parent or adviser reads is written in Python.

Every string literal in bot/ and actions/ (implicit concatenation joined, an f-string's text parts
joined with ``{}`` for each field) that looks like a sentence shown to people fails this test,
unless it is a docstring, an argument of a logging, print, argparse or exception call, part of a
``raise``, or on ``ALLOWED`` below with its reason. The words belong in knowledge/replies.yml,
used through ``bot.assistant.replies.text``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot.settings import ROOT

SCANNED = ("bot", "actions")

# Calls whose string arguments are for developers and operators, not parents or advisers.
# Logging methods, quiet only when called on something (logger.error, logging.info): a plain
# error(...) may well answer an adviser.
LOGGING_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
)
QUIET_CALLS = frozenset(
    {
        # output of the command-line tools, for operators
        "print",
        "exit",
        # prompts of the command-line tools, for operators
        "getpass",
        "input",
        # argparse
        "ArgumentParser",
        "add_argument",
        "add_parser",
        "add_subparsers",
        "add_argument_group",
        # bot/settings.py's descriptions of each SEN_* variable and group: the settings manual
        # for operators (python -m bot.settings writes docs/settings.md from them)
        "Variable",
        "_group",
    }
)
EXCEPTION_NAME = re.compile(r"(Error|Exception|Unavailable|Refused|Failure|Problem)$")

# (file, literal) -> why it may stay in code.
ALLOWED: dict[tuple[str, str], str] = {
    (
        "bot/adviser/console/corrections.py",
        "# Corrections made by advisers in the console, personal data redacted.\n"
        "# Review, then add to the matching file in data/nlu/ and retrain.\n",
    ): "a YAML comment heading training data, for whoever retrains the model",
    ("bot/channels/rest.py", "The request is too large."): (
        "a JSON error of the REST API for the developer of the client, as Rasa's own errors"
    ),
    ("bot/channels/rest.py", "The body must be a JSON object."): "REST API error for developers",
    ("bot/channels/rest.py", "The message must be a string."): "REST API error for developers",
    (
        "bot/channels/rest.py",
        "Start a conversation first: POST /webhooks/rest/session gives a sender and token.",
    ): "REST API error for developers",
    ("bot/plugins/rasa_run.py", "User is not authenticated."): (
        "Rasa's own message, which this plugin must answer with unchanged"
    ),
}

# Files whose sentences are for the people who edit content or run the service, not for parents
# or advisers: file -> why.
ALLOWED_FILES: dict[str, str] = {
    "bot/assistant/replies.py": (
        "the check of knowledge/replies.yml: its messages tell whoever edits the file what to fix"
    ),
    "bot/assistant/service.py": (
        "the check of knowledge/service.yml: its messages tell whoever edits the file what to fix"
    ),
}

_REGEX = re.compile(r"\(\?|\\[bdswBDSW]|\[\^|\|\(")
_ADDRESSED = re.compile(r"\b(?:adviser|advisers|you|your|you're|you've|you'll)\b", re.IGNORECASE)


def looks_like_a_sentence(text: str) -> bool:
    """Words a person would read: three or more words starting with a capital (or a field) and
    ending like a sentence, or words that speak to or about "you" or an adviser and start with a
    capital or end like a sentence. Regular expressions and the lower-case word lists used for
    matching are not."""
    text = text.strip()
    if " " not in text or _REGEX.search(text):
        return False
    starts = text[0].isupper() or text.startswith("{}")
    if starts and len(text.split()) >= 3 and text[-1] in ".?!:":
        return True
    addressed = bool(_ADDRESSED.search(text))
    return addressed and (starts or text[-1] in ".?!")


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
        )
    return None


def sentences_in(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, text) of every literal in ``source`` that looks like a sentence shown to people."""
    tree = ast.parse(source, filename)
    quiet: set[int] = set()

    def hush(node: ast.AST) -> None:
        quiet.update(id(inner) for inner in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and _literal(body[0].value) is not None:
                hush(body[0])  # a docstring
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            hush(node)  # a bare string used as a comment
        elif isinstance(node, ast.Raise):
            hush(node)
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            logging_call = isinstance(node.func, ast.Attribute) and name in LOGGING_METHODS
            if logging_call or name in QUIET_CALLS or EXCEPTION_NAME.search(name):
                for argument in [*node.args, *(k.value for k in node.keywords)]:
                    hush(argument)
            else:
                for keyword in node.keywords:
                    if keyword.arg == "help":  # argparse help in a helper call
                        hush(keyword.value)
        elif isinstance(node, ast.JoinedStr):
            for part in node.values:  # judged as the whole f-string, not piece by piece
                quiet.add(id(part))
                if isinstance(part, ast.FormattedValue) and part.format_spec is not None:
                    hush(part.format_spec)
    found = []
    for node in ast.walk(tree):
        if id(node) in quiet:
            continue
        text = _literal(node)
        if text is not None and looks_like_a_sentence(text):
            found.append((node.lineno, text))
    return sorted(found)


def _files() -> list[Path]:
    return sorted(p for folder in SCANNED for p in (ROOT / folder).rglob("*.py"))


def test_no_sentence_for_people_is_written_in_code():
    offending = []
    used = set()
    for path in _files():
        relative = path.relative_to(ROOT).as_posix()
        if relative in ALLOWED_FILES:
            continue
        for line, text in sentences_in(path.read_text(encoding="utf-8"), relative):
            if (relative, text) in ALLOWED:
                used.add((relative, text))
            else:
                offending.append(f"{relative}:{line}: {text!r}")
    assert not offending, (
        "Sentences people read belong in knowledge/replies.yml (use bot.assistant.replies.text), "
        "not in code; or, if it is not for parents or advisers, add it to ALLOWED with a reason:\n"
        + "\n".join(offending)
    )
    assert not set(ALLOWED) - used, f"ALLOWED entries no longer found: {set(ALLOWED) - used}"


@pytest.mark.parametrize(
    "source",
    [
        'text = "Please wait a moment."\n',
        'def f():\n    return "Please wait " "a moment."\n',
        'def f(n):\n    return f"Please wait {n} more minutes."\n',
        'BUTTON = {"title": "Talk to an adviser", "payload": "/request_human"}\n',
        'dispatcher.utter_message(text="You can ask me anything.")\n',
        'lead = "or you can talk to an adviser."\n',
        'def answer():\n    return error(502, "The assistant could not be reached.")\n',
    ],
)
def test_a_new_sentence_in_code_fails(source):
    assert sentences_in(source), source


@pytest.mark.parametrize(
    "source",
    [
        '"""A module docstring that reads like a sentence."""\n',
        'def f():\n    """Does a thing for you."""\n',
        'logger.warning("Could not reach Rasa, trying again.")\n',
        'raise ValueError("The value is not right.")\n',
        'logging.getLogger(__name__).error("The broker is not answering.")\n',
        'raise DeskError(409, "Another adviser has this case.")\n',
        'print(f"Wrote {n} files to the folder.")\n',
        'parser.add_argument("--port", help="The port to listen on.")\n',
        'PATTERN = r"\\b(?:you all|the family) (?:would|will) be better"\n',
        'WORDS = "i me my you your"\n',
        'KEY = "smalltalk.greet"\n',
        'text = replies.text("limits.rate_limited")\n',
    ],
)
def test_what_is_not_for_people_passes(source):
    assert sentences_in(source) == [], source


def test_the_whole_line_of_an_fstring_is_what_counts():
    [(line, text)] = sentences_in('x = 1\nmessage = f"There are {n} people waiting before you."\n')
    assert (line, text) == (2, "There are {} people waiting before you.")


def test_adding_a_sentence_to_a_real_module_is_caught(tmp_path: Path):
    """A copy of a module that passes, plus one line a parent would read: only that line fails."""
    module = tmp_path / "limits.py"
    source = (ROOT / "bot" / "channels" / "limits.py").read_text(encoding="utf-8")
    module.write_text(source + '\ntext = "Please wait a moment."\n', encoding="utf-8")
    assert sentences_in(source) == []
    found = sentences_in(module.read_text(encoding="utf-8"), str(module))
    assert found == [(source.count("\n") + 2, "Please wait a moment.")]
