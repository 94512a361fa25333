"""python -m bot.adviser.console: serve the adviser console, manage accounts, apply retention.

serve                                   the console on 127.0.0.1:$SEN_CONSOLE_PORT (5057)
create-user USERNAME FIRSTNAME --role adviser|admin   (password asked twice, or --password-stdin)
retention [--days N]                    delete conversations and cases older than N days
                                        ($SEN_RETENTION_DAYS, default 365); schedule it daily
delete-conversation ID                  erase one conversation everywhere (a parent's request)
"""

from __future__ import annotations

import argparse
import getpass
import sys

from bot.adviser.console.accounts import MIN_PASSWORD_CHARS, ROLES, AccountError, Accounts
from bot.adviser.console.app import HOST, create_app, load_console_settings
from bot.adviser.console.erasure import Eraser
from bot.settings import load_settings


def _password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"Password (at least {MIN_PASSWORD_CHARS} characters): ")
    if getpass.getpass("The same password again: ") != first:
        print("The two passwords differ; nothing was changed.", file=sys.stderr)
        return None
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.adviser.console",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the console (loopback only)")
    create = commands.add_parser("create-user", help="create a user, or set a new password")
    create.add_argument("username")
    create.add_argument("first_name", help="the name parents see in a live chat, e.g. Sam")
    create.add_argument("--role", choices=ROLES, default="adviser")
    create.add_argument("--password-stdin", action="store_true", help="read the password")
    keep = commands.add_parser("retention", help="delete what is older than the retention period")
    keep.add_argument("--days", type=int, default=load_settings().console.retention_days)
    erase = commands.add_parser("delete-conversation", help="erase one conversation everywhere")
    erase.add_argument("conversation_id")
    options = parser.parse_args(argv)
    settings = load_console_settings()

    if options.command == "create-user":
        password = _password(options.password_stdin)
        if password is None:
            return 2
        try:
            user = Accounts(settings.db_url).create_user(
                options.username, options.first_name, options.role, password
            )
        except AccountError as problem:
            print(f"Not created: {problem}", file=sys.stderr)
            return 2
        print(f"{user.role.capitalize()} {user.username} ({user.first_name}) can now log in.")
        return 0
    if options.command == "retention":
        try:
            removed = Eraser(settings).apply_retention(options.days)
        except ValueError as problem:
            print(problem, file=sys.stderr)
            return 2
        accounts = Accounts(settings.db_url)
        accounts.audit("system", "retention", f"{options.days} days", str(removed))
        print(
            f"Retention {options.days} days: {removed['conversations']} conversations and "
            f"{removed['records']} records deleted."
        )
        return 0
    if options.command == "delete-conversation":
        removed = Eraser(settings).erase(options.conversation_id)
        Accounts(settings.db_url).audit("system", "delete", options.conversation_id, str(removed))
        print(f"{removed} records of conversation {options.conversation_id} deleted.")
        return 0 if removed else 1
    create_app(settings).run(host=HOST, port=settings.port, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
