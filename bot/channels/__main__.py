"""Setting up the messaging channels from the command line.

    python -m bot.channels status                  which channels the environment switches on
    python -m bot.channels telegram-webhook URL    register Telegram's webhook with the secret

Telegram is the only platform whose webhook is registered through its API (the others are set
in the platform's console); registering it here makes sure the secret token Telegram will send
is the one the channel checks.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from urllib.parse import urlsplit

from bot.channels.common import DeliveryError, PlatformApi
from bot.channels.messenger import messenger_settings
from bot.channels.telegram import set_webhook, telegram_settings
from bot.channels.twilio import twilio_settings


def status() -> int:
    channels = {
        "Telegram": telegram_settings,
        "Twilio (SMS, WhatsApp)": twilio_settings,
        "Messenger": messenger_settings,
    }
    for name, load in channels.items():
        print(f"{name}: {'on' if load(os.environ) is not None else 'off'}")
    return 0


async def _register_telegram(url: str) -> int:
    settings = telegram_settings(os.environ)
    if settings is None:
        print("Telegram is not configured (see the messages above).", file=sys.stderr)
        return 1
    api = PlatformApi("Telegram")
    try:
        await set_webhook(settings, url, api)
    except DeliveryError as problem:
        print(f"The webhook was not set: {problem}", file=sys.stderr)
        return 1
    finally:
        await api.close()
    print(f"Telegram will send updates to {url}, with the secret token.")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(prog="python -m bot.channels")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="which channels are on")
    register = commands.add_parser("telegram-webhook", help="register the Telegram webhook")
    register.add_argument("url", help="public https URL ending /webhooks/telegram/webhook")
    args = parser.parse_args(argv)
    if args.command == "status":
        return status()
    if urlsplit(args.url).scheme != "https":
        print("Telegram only calls https URLs.", file=sys.stderr)
        return 2
    return asyncio.run(_register_telegram(args.url))


if __name__ == "__main__":
    sys.exit(main())
