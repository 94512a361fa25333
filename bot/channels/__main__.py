"""Setting up the messaging channels from the command line.

    python -m bot.channels status                  which channels the environment switches on
    python -m bot.channels telegram-webhook URL    register Telegram's webhook with the secret
    python -m bot.channels conversation-id PHONE   a phone number's SMS and WhatsApp conversations

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
from bot.channels.twilio import _PHONE, id_secret, phone_ids, twilio_settings


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


def conversation_ids(phone: str) -> int:
    """The ids an SMS or WhatsApp conversation with this number has (they are sealed, so a
    parent asking to see or erase their data can only be found this way)."""
    phone = phone.replace(" ", "")
    if not _PHONE.match(phone):
        print("Give the number in international form, e.g. +447700900123.", file=sys.stderr)
        return 2
    ids = phone_ids(id_secret(os.environ))
    print(f"SMS:      {ids.conversation(phone, whatsapp=False)}")
    print(f"WhatsApp: {ids.conversation(phone, whatsapp=True)}")
    print(f"(and, if they wrote before sealed ids: sms:{phone}, whatsapp:{phone})")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(prog="python -m bot.channels")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="which channels are on")
    register = commands.add_parser("telegram-webhook", help="register the Telegram webhook")
    register.add_argument("url", help="public https URL ending /webhooks/telegram/webhook")
    lookup = commands.add_parser("conversation-id", help="a phone number's conversation ids")
    lookup.add_argument("phone", help="the number in international form: +447700900123")
    args = parser.parse_args(argv)
    if args.command == "status":
        return status()
    if args.command == "conversation-id":
        return conversation_ids(args.phone)
    if urlsplit(args.url).scheme != "https":
        print("Telegram only calls https URLs.", file=sys.stderr)
        return 2
    return asyncio.run(_register_telegram(args.url))


if __name__ == "__main__":
    sys.exit(main())
