"""Command line: ``python -m bot <command>``.

validate      check the knowledge base and replies.yml; name every problem's file and field
build-spacy   build the blank English spaCy pipeline with the entity ruler
serve         start the action server and the Rasa server, and say how to chat
shell         chat in the terminal (starts the action server, then `rasa shell`)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bot.assistant import readability
from bot.settings import ROOT, load_settings

MODEL = ROOT / "models" / "sen-assistant.tar.gz"


def validate(args: argparse.Namespace) -> int:
    """The knowledge base, then the replies (knowledge/replies.yml): every problem of both."""
    knowledge_ok = validate_knowledge(args) == 0
    replies_ok = validate_replies(Path(args.knowledge) / "replies.yml") == 0
    understanding_ok = validate_understanding(Path(args.knowledge) / "understanding.yml") == 0
    return 0 if knowledge_ok and replies_ok and understanding_ok else 1


def validate_understanding(path: Path) -> int:
    """knowledge/understanding.yml: the phrases the assistant reads messages with."""
    import yaml

    from bot.assistant import understanding

    try:
        vocabulary = understanding.load(path)
    except (understanding.UnderstandingError, OSError, yaml.YAMLError) as error:
        print(f"{path} has problems:\n  {error}", file=sys.stderr)
        print("Fix the keys named above, then run `make validate` again.", file=sys.stderr)
        return 1
    count = sum(len(v) for v in vocabulary.follow_ups.values())
    print(f"Understanding OK: {count} follow-up phrases in {path.name}.")
    return 0


def validate_knowledge(args: argparse.Namespace) -> int:
    from bot.assistant import knowledge

    try:
        kb = knowledge.load(Path(args.knowledge))
    except knowledge.KnowledgeError as error:
        print(f"The knowledge base has {len(error.problems)} problem(s):", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            "Fix each file and field named above, then run `make validate` again.", file=sys.stderr
        )
        return 1
    for doc in kb.guidance.values():
        skipped = ", ".join(f"'{s.heading}'" for s in doc.placeholder_sections) or "none"
        print(
            f"Guidance '{doc.id}': {len(doc.content_sections)} sections; "
            f"placeholder sections kept from parents: {skipped}"
        )
    if not _readable(readability.article_grades(kb), Path(args.knowledge) / "articles", True):
        return 1
    print(f"Knowledge base OK: {len(kb.articles)} articles.")
    return 0


def _readable(grades: list, source: Path, median_of_answers: bool = False) -> bool:
    """Print every reading grade, hardest first; name each one that is too hard."""
    print(f"Reading grades (Flesch-Kincaid) in {source}, hardest first:")
    for found in sorted(grades, key=lambda g: -g.grade):
        print(f"  {found.grade:5.1f}  {found.where}")
    if median_of_answers:
        median = readability.median_answer_grade(grades)
        print(f"  median answer {median:.1f} (at most {readability.MAX_MEDIAN_GRADE:.0f})")
    problems = readability.problems(grades, str(source), median_of_answers)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    if problems:
        print(
            f"Rewrite each text named above to grade {readability.MAX_GRADE:.0f} or below, "
            "then run `make validate` again.",
            file=sys.stderr,
        )
    return not problems


def validate_replies(replies_path: Path | None = None) -> int:
    from bot.assistant import replies

    path = replies_path or replies.PATH
    try:
        found = replies.read(path)
    except replies.RepliesError as error:
        print(f"{path} has {len(error.problems)} problem(s):", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        print("Fix each key named above, then run `make validate` again.", file=sys.stderr)
        return 1
    if not _readable(readability.reply_grades(found), path):
        return 1
    print(f"Replies OK: {len(found)} entries in {path.name}.")
    return 0


def build_spacy(args: argparse.Namespace) -> int:
    from bot.assistant.vocabulary import build_spacy_pipeline

    print(f"spaCy pipeline written to {build_spacy_pipeline()}")
    return 0


def _need_model() -> None:
    if not MODEL.exists():
        sys.exit(f"No trained model at {MODEL}. Run `make train` (or `make run`) first.")


def serve(args: argparse.Namespace) -> int:
    from bot.ops.servers import Servers

    _need_model()
    settings = load_settings()
    web_port, console_port = settings.web.port, settings.console.port
    servers = Servers(
        MODEL, endpoints=ROOT / "endpoints.yml", log_dir=ROOT / "var" / "logs",
        web_port=web_port, console_port=console_port,
    )  # fmt: skip
    print(
        "Starting the action server (5055), the Rasa server (5005), the adviser API (5056), "
        f"the web app ({web_port}) and the adviser console ({console_port}); about 30s..."
    )
    try:
        servers.start()
    except RuntimeError as error:
        print(f"Could not start the assistant: {error}", file=sys.stderr)
        return 1
    print(
        "\nThe SEN Support Assistant is running.\n"
        f"  Open {servers.web_url}/ in a browser: a demo page with the website widget.\n"
        f"  Chat over REST:  curl -s -X POST {servers.url}/webhooks/rest/session\n"
        "    gives {sender, token}; then POST {sender, token, message} as JSON to\n"
        f"    {servers.url}/webhooks/rest/webhook (README, Try it).\n"
        f"  The widget's socket.io channel: {servers.url}/socket.io (see widget/README.md)\n"
        "  Chat in the terminal instead: stop this and run `make shell`.\n"
        "  HTTP API: needs a JWT (HS256) signed with var/rasa-jwt-secret, in the\n"
        "    Authorization header (docs/security.md).\n"
        f"  Adviser API: {servers.adviser_url} (create an adviser and token with\n"
        "    `.venv/bin/python -m bot.adviser.api add-adviser USERNAME FIRSTNAME`).\n"
        f"  Adviser console: {servers.console_url}/ (create an account with\n"
        "    `.venv/bin/python -m bot.adviser.console create-user USERNAME FIRSTNAME --role "
        "admin`).\n"
        "  Logs: var/logs/. Press Ctrl-C to stop.\n"
    )
    try:
        while all(p.poll() is None for p in servers.processes):
            time.sleep(1)
        print("A server stopped unexpectedly; see var/logs/.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0
    finally:
        servers.stop()


def shell(args: argparse.Namespace) -> int:
    from bot.ops.servers import private_child, rasa_env
    from bot.settings import actions_secret

    _need_model()
    log = ROOT / "var" / "logs" / "actions.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    # The action server refuses calls without this secret; `rasa shell` through
    # bot.plugins.rasa_run sends it.
    env = rasa_env({"SEN_ACTIONS_SECRET": actions_secret(load_settings().data_dir)})
    actions = subprocess.Popen(
        [sys.executable, "-m", "actions.server"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        preexec_fn=private_child,
    )
    try:
        return subprocess.call(
            [
                sys.executable,
                "-m",
                "bot.plugins.rasa_run",
                "shell",
                "--model",
                str(MODEL),
                "--endpoints",
                "endpoints.yml",
            ],
            cwd=ROOT,
            env=env,
            preexec_fn=private_child,
        )
    finally:
        actions.terminate()
        actions.wait(timeout=20)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="check the knowledge base")
    check.add_argument("--knowledge", default=str(ROOT / "knowledge"), help="knowledge folder")
    check.set_defaults(run=validate)
    commands.add_parser("build-spacy", help="build the spaCy pipeline").set_defaults(
        run=build_spacy
    )
    commands.add_parser("serve", help="run the assistant").set_defaults(run=serve)
    commands.add_parser("shell", help="chat in the terminal").set_defaults(run=shell)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
