"""Configuration from ``SEN_*`` environment variables, with defaults that need nothing installed.

This is the only module that reads ``SEN_*`` variables (tests/unit/test_settings.py checks it):
``load_settings()`` builds a frozen ``Settings`` from ``os.environ``, or from any mapping a test
or a caller passes, casting every value once and naming the variable when one can't be cast.
Other modules take their values from the ``Settings`` object. Writing ``SEN_*`` names into a
child process's environment (``bot.ops.servers``, ``bot.production.profile``) is fine.

Every variable, its type, default and use is listed in docs/settings.md, which is generated from
the ``Variable`` notes on the fields below: ``python -m bot.settings`` prints the tables.
"""

from __future__ import annotations

import os
import secrets
import sys
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from bot.opening_hours import OpeningHours

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_RASA_URL = "http://127.0.0.1:5005"
DEFAULT_RATE_LIMIT = "20/60"
DEFAULT_SESSION_LIMIT = "30/60"
DEFAULT_WIDGET_ORIGINS = ("http://127.0.0.1:5080", "http://localhost:5080")
_OFF = ("0", "false", "no", "off")

_T = TypeVar("_T")


class SettingsError(ValueError):
    """A SEN_* variable has a value that can't be used; the message names it and says what to do."""


@dataclass(frozen=True)
class Variable:
    """One environment variable, as docs/settings.md lists it."""

    name: str
    type: str
    default: str
    used_by: str
    what: str


def _doc(*variables: Variable, secret: bool = False) -> Any:
    """A field read from ``variables``; a secret is left out of the settings' repr (logs)."""
    return field(repr=not secret, metadata={"variables": variables})


def _group(title: str) -> Any:
    return field(metadata={"group": title})


# --- the groups --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActionsConfig:
    host: str = _doc(
        Variable(
            "SEN_ACTIONS_HOST",
            "str",
            "127.0.0.1",
            "actions.server",
            "the interface the action server listens on",
        )
    )
    port: int = _doc(
        Variable("SEN_ACTIONS_PORT", "int", "5055", "actions.server", "the action server's port")
    )
    secret: str | None = _doc(
        Variable(
            "SEN_ACTIONS_SECRET",
            "str",
            "made once in $SEN_DATA_DIR/actions-secret",
            "actions.server, bot.plugins.rasa_run",
            "Rasa sends it to the action server, which refuses any call without it (401); "
            "required when the action server listens off loopback",
        ),
        secret=True,
    )


@dataclass(frozen=True)
class WebConfig:
    port: int = _doc(
        Variable(
            "SEN_WEB_PORT",
            "int",
            "5080",
            "bot.ops.web, bot.ops.cli",
            "the web app: the widget's files and the demo page (loopback)",
        )
    )
    widget_server: str = _doc(
        Variable(
            "SEN_WIDGET_SERVER",
            "str",
            DEFAULT_RASA_URL,
            "bot.ops.web",
            "the Rasa server the widget's socket.io connection goes to",
        )
    )


@dataclass(frozen=True)
class WidgetConfig:
    origins: tuple[str, ...] | None = _doc(
        Variable(
            "SEN_WIDGET_ORIGINS",
            "comma-separated URLs",
            ",".join(DEFAULT_WIDGET_ORIGINS),
            "bot.channels.widget, bot.ops.servers",
            "pages that may open the widget's socket; `make run` sets its web app's pages "
            "when this is unset",
        )
    )
    secret: str | None = _doc(
        Variable(
            "SEN_WIDGET_SECRET",
            "str",
            "made once in $SEN_DATA_DIR/widget-secret",
            "bot.channels.widget",
            "signs widget conversation tokens",
        ),
        secret=True,
    )
    socketio_redis_url: str | None = _doc(
        Variable(
            "SEN_SOCKETIO_REDIS_URL",
            "Redis URL",
            "unset (rooms in this process)",
            "bot.channels.widget",
            "shares socket.io rooms between Rasa instances (the production profile sets it)",
        )
    )

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        return DEFAULT_WIDGET_ORIGINS if self.origins is None else self.origins


@dataclass(frozen=True)
class ConsoleConfig:
    port: int = _doc(
        Variable(
            "SEN_CONSOLE_PORT",
            "int",
            "5057",
            "bot.adviser.console, bot.ops.cli",
            "the adviser console's port, on 127.0.0.1",
        )
    )
    secure_cookies: bool = _doc(
        Variable(
            "SEN_CONSOLE_SECURE_COOKIES",
            "bool (0/false/no/off)",
            "1",
            "bot.adviser.console",
            "login cookies only over HTTPS; 0 for plain http on loopback",
        )
    )
    retention_days: int = _doc(
        Variable(
            "SEN_RETENTION_DAYS",
            "int",
            "365",
            "bot.adviser.console retention",
            "conversations and cases older than this are deleted",
        )
    )


@dataclass(frozen=True)
class LimitsConfig:
    rate_limit: tuple[int, float] | None = _doc(
        Variable(
            "SEN_RATE_LIMIT",
            "messages/seconds, or off",
            DEFAULT_RATE_LIMIT,
            "bot.channels.limits (every channel)",
            "messages one conversation may send in a sliding window; 0 or off: no limit",
        )
    )
    session_limit: tuple[int, float] | None = _doc(
        Variable(
            "SEN_SESSION_LIMIT",
            "conversations/seconds, or off",
            DEFAULT_SESSION_LIMIT,
            "bot.channels.limits (REST, widget)",
            "new conversations one client address may start in a sliding window (a widget "
            "socket may start 5 in 10 minutes); 0 or off: no limit",
        )
    )
    redis_url: str | None = _doc(
        Variable(
            "SEN_LIMITS_REDIS_URL",
            "Redis URL",
            "unset (counted in this process)",
            "bot.channels.limits, bot.channels.common",
            "shares rate limits and repeated webhook deliveries between Rasa instances "
            "(the production profile sets it)",
        )
    )


@dataclass(frozen=True)
class TelegramConfig:
    token: str = _doc(
        Variable(
            "SEN_TELEGRAM_TOKEN",
            "str",
            "unset (channel off)",
            "bot.channels.telegram",
            "the bot's token from BotFather",
        ),
        secret=True,
    )
    secret_token: str = _doc(
        Variable(
            "SEN_TELEGRAM_SECRET_TOKEN",
            "str (16-256 of A-Z a-z 0-9 _ -)",
            "unset (channel off)",
            "bot.channels.telegram",
            "the secret Telegram sends with every update (set by telegram-webhook)",
        ),
        secret=True,
    )
    api_url: str = _doc(
        Variable(
            "SEN_TELEGRAM_API_URL",
            "URL",
            "https://api.telegram.org",
            "bot.channels.telegram",
            "the Bot API's base URL (tests point it at a recorder)",
        )
    )


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str = _doc(
        Variable(
            "SEN_TWILIO_ACCOUNT_SID",
            "str (AC + 32 hex digits)",
            "unset (channel off)",
            "bot.channels.twilio",
            "the Twilio account",
        )
    )
    auth_token: str = _doc(
        Variable(
            "SEN_TWILIO_AUTH_TOKEN",
            "str",
            "unset (channel off)",
            "bot.channels.twilio",
            "checks Twilio's signature on every webhook call, and sends messages",
        ),
        secret=True,
    )
    webhook_url: str = _doc(
        Variable(
            "SEN_TWILIO_WEBHOOK_URL",
            "URL",
            "unset (channel off)",
            "bot.channels.twilio",
            "the public URL Twilio calls (its signature covers it)",
        )
    )
    sms_from: str = _doc(
        Variable(
            "SEN_TWILIO_SMS_FROM",
            "E.164 number",
            "unset (no SMS)",
            "bot.channels.twilio",
            "the number SMS replies come from",
        )
    )
    whatsapp_from: str = _doc(
        Variable(
            "SEN_TWILIO_WHATSAPP_FROM",
            "E.164 number",
            "unset (no WhatsApp)",
            "bot.channels.twilio",
            "the number WhatsApp replies come from",
        )
    )
    api_url: str = _doc(
        Variable(
            "SEN_TWILIO_API_URL",
            "URL",
            "https://api.twilio.com",
            "bot.channels.twilio",
            "Twilio's API base URL (tests point it at a recorder)",
        )
    )


@dataclass(frozen=True)
class MessengerConfig:
    page_token: str = _doc(
        Variable(
            "SEN_MESSENGER_PAGE_TOKEN",
            "str",
            "unset (channel off)",
            "bot.channels.messenger",
            "the Facebook page's access token, to send",
        ),
        secret=True,
    )
    app_secret: str = _doc(
        Variable(
            "SEN_MESSENGER_APP_SECRET",
            "str",
            "unset (channel off)",
            "bot.channels.messenger",
            "checks the signature on every webhook call",
        ),
        secret=True,
    )
    verify_token: str = _doc(
        Variable(
            "SEN_MESSENGER_VERIFY_TOKEN",
            "str",
            "unset (channel off)",
            "bot.channels.messenger",
            "answers Facebook's webhook verification",
        ),
        secret=True,
    )
    api_url: str = _doc(
        Variable(
            "SEN_MESSENGER_API_URL",
            "URL",
            "https://graph.facebook.com/v19.0",
            "bot.channels.messenger",
            "the Graph API's base URL (tests point it at a recorder)",
        )
    )


@dataclass(frozen=True)
class ChannelsConfig:
    id_secret: str | None = _doc(
        Variable(
            "SEN_CHANNEL_ID_SECRET",
            "str",
            "made once in $SEN_DATA_DIR/channel-id-secret",
            "bot.channels.twilio",
            "seals SMS/WhatsApp phone numbers into conversation ids (AES-SIV); changing it "
            "loses the way back to existing conversations",
        ),
        secret=True,
    )
    rest_secret: str | None = _doc(
        Variable(
            "SEN_REST_SECRET",
            "str",
            "made once in $SEN_DATA_DIR/rest-secret",
            "bot.channels.rest",
            "signs the signed REST channel's conversation tokens",
        ),
        secret=True,
    )
    telegram: TelegramConfig = _group("Channels: Telegram")
    twilio: TwilioConfig = _group("Channels: Twilio (SMS, WhatsApp)")
    messenger: MessengerConfig = _group("Channels: Facebook Messenger")


@dataclass(frozen=True)
class ProductionConfig:
    postgres_url: str = _doc(
        Variable(
            "SEN_POSTGRES_URL",
            "PostgreSQL URL",
            "postgresql://postgres@127.0.0.1:5432/sen",
            "bot.production.profile",
            "cases, console, events",
        )
    )
    tracker_db: str = _doc(
        Variable(
            "SEN_TRACKER_DB",
            "str",
            "sen_tracker",
            "bot.production.profile",
            "the tracker store's database on that server",
        )
    )
    redis_url: str = _doc(
        Variable(
            "SEN_REDIS_URL",
            "Redis URL",
            "redis://127.0.0.1:6379/1",
            "bot.production.profile",
            "Rasa's lock store (one message at a time); also socket.io rooms and limits",
        )
    )
    rabbitmq_url: str = _doc(
        Variable(
            "SEN_RABBITMQ_URL",
            "AMQP URL",
            "amqp://guest:guest@127.0.0.1:5672/",
            "bot.production.profile, broker_consumer",
            "Rasa's event broker",
        )
    )
    rabbitmq_queue: str = _doc(
        Variable(
            "SEN_RABBITMQ_QUEUE",
            "str",
            "sen_events",
            "bot.production.profile, broker_consumer",
            "emptied into PostgreSQL by bot.production.broker_consumer",
        )
    )
    tracker_retry_seconds: float = _doc(
        Variable(
            "SEN_TRACKER_RETRY_SECONDS",
            "float",
            "30",
            "bot.production.tracker_store",
            "how long a tracker read or save is retried (the endpoint's retry_seconds wins)",
        )
    )
    broker_drain_seconds: float = _doc(
        Variable(
            "SEN_BROKER_DRAIN_SECONDS",
            "float (negative: 0; not a number: the default)",
            "10",
            "bot.production.event_broker",
            "how long Rasa waits, as it stops, for events still being published",
        )
    )
    log_level: str = _doc(
        Variable(
            "SEN_LOG_LEVEL",
            "logging level",
            "INFO",
            "bot.production.broker_consumer",
            "the broker consumer's log level",
        )
    )


@dataclass(frozen=True)
class Settings:
    data_dir: Path = _doc(
        Variable(
            "SEN_DATA_DIR",
            "path",
            "./var",
            "everything",
            "where SQLite files, logs and the made-once secrets live",
        )
    )
    handoff_db_url: str = _doc(
        Variable(
            "SEN_HANDOFF_DB_URL",
            "SQLAlchemy URL",
            "sqlite:///$SEN_DATA_DIR/handoff.db",
            "actions, adviser API, console, widget",
            "cases and advisers",
        )
    )
    events_db_url: str = _doc(
        Variable(
            "SEN_EVENTS_DB_URL",
            "SQLAlchemy URL",
            "sqlite:///$SEN_DATA_DIR/events.db",
            "adviser API (watcher), console, transcripts, broker_consumer",
            "Rasa's event broker's table, read by the watcher and the console",
        )
    )
    tracker_db_url: str = _doc(
        Variable(
            "SEN_TRACKER_DB_URL",
            "SQLAlchemy URL",
            "sqlite:///$SEN_DATA_DIR/rasa.db",
            "bot.adviser.console",
            "Rasa's tracker store, for erasure and retention",
        )
    )
    rasa_url: str = _doc(
        Variable(
            "SEN_RASA_URL",
            "URL",
            DEFAULT_RASA_URL,
            "adviser API, console",
            "the Rasa server, started with --enable-api",
        )
    )
    rasa_jwt_secret: str | None = _doc(
        Variable(
            "SEN_RASA_JWT_SECRET",
            "str",
            "made once in $SEN_DATA_DIR/rasa-jwt-secret",
            "bot.plugins.rasa_run (required), adviser API, console, bench",
            "signs JWTs for Rasa's HTTP API",
        ),
        secret=True,
    )
    adviser_api_port: int = _doc(
        Variable(
            "SEN_ADVISER_API_PORT",
            "int",
            "5056",
            "bot.adviser.api",
            "the adviser API (loopback only)",
        )
    )
    handoff_watcher: bool = _doc(
        Variable(
            "SEN_HANDOFF_WATCHER",
            "bool (0/false/no/off)",
            "1",
            "bot.adviser.api",
            "0 to run the adviser API without the hand-off watcher",
        )
    )
    opening_hours: OpeningHours = _doc(
        Variable(
            "SEN_OPENING_HOURS",
            "days and times",
            "Mon-Fri 09:00-17:00",
            "actions (hand-off, replies)",
            "when a live hand-off is offered; the hours every reply shows (the introduction, the "
            "service's phone line)",
        ),
        Variable(
            "SEN_TIMEZONE",
            "IANA time zone",
            "Europe/London",
            "actions (hand-off)",
            "the time zone of the opening hours",
        ),
    )
    answer_threshold: float = _doc(
        Variable(
            "SEN_ANSWER_THRESHOLD",
            "float",
            "0.55",
            "actions (responder)",
            "retrieval similarity needed to answer when NLU is unsure",
        )
    )
    intent_threshold: float = _doc(
        Variable(
            "SEN_INTENT_THRESHOLD",
            "float",
            "0.35",
            "actions (responder)",
            "classifier confidence that, with retrieval agreeing, still answers",
        )
    )
    actions: ActionsConfig = _group("Action server")
    web: WebConfig = _group("Web app")
    widget: WidgetConfig = _group("Widget channel")
    console: ConsoleConfig = _group("Adviser console")
    limits: LimitsConfig = _group("Limits")
    channels: ChannelsConfig = _group("Channels")
    production: ProductionConfig = _group("Production profile")


# --- reading and casting -----------------------------------------------------------------------
def _raw(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value; unset and empty are the same (the default applies)."""
    return env.get(name) or None


def _stripped(env: Mapping[str, str], name: str, default: str = "") -> str:
    return (env.get(name) or "").strip() or default


def _cast(
    env: Mapping[str, str], name: str, cast: Callable[[str], _T], default: _T, what: str
) -> _T:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        return cast(raw)
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not {what}: set it to one (e.g. {name}={default}), "
            "or unset it for the default."
        ) from None


def _flag(env: Mapping[str, str], name: str) -> bool:
    return (_raw(env, name) or "1").strip().lower() not in _OFF


def _origins(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    return tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())


def _drain_seconds(raw: str | None) -> float:
    try:
        return max(0.0, float(raw)) if raw is not None else 10.0
    except ValueError:
        return 10.0  # as before: a nonsense value is the default, not a refusal to stop


def parse_rate_limit(
    raw: str | None, default: str = DEFAULT_RATE_LIMIT, name: str = "SEN_RATE_LIMIT"
) -> tuple[int, float] | None:
    """``"20/60"`` → (20, 60.0); ``"0"`` or ``"off"`` → None (no limit)."""
    text = (raw or default).strip().lower()
    if text in ("0", "off", "none"):
        return None
    count, _, seconds = text.partition("/")
    try:
        limit, window = int(count), float(seconds or 60)
    except ValueError:
        raise SettingsError(f"{name} must look like 20/60, not {raw!r}") from None
    if limit < 1 or window <= 0:
        raise SettingsError(f"{name} must look like 20/60, not {raw!r}")
    return limit, window


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``env`` (default ``os.environ``); SettingsError names a bad variable."""
    env = os.environ if env is None else env
    data_dir = Path(_raw(env, "SEN_DATA_DIR") or ROOT / "var")
    whole, number = "a whole number", "a number"
    try:
        opening_hours = OpeningHours.parse(
            _raw(env, "SEN_OPENING_HOURS") or "Mon-Fri 09:00-17:00",
            _raw(env, "SEN_TIMEZONE") or "Europe/London",
        )
    except (ValueError, KeyError) as problem:
        raise SettingsError(
            f"SEN_OPENING_HOURS / SEN_TIMEZONE can't be used ({problem}): give days and times "
            "like 'Mon-Fri 09:00-17:00' and a time zone like Europe/London, or unset them."
        ) from None
    return Settings(
        data_dir=data_dir,
        handoff_db_url=_raw(env, "SEN_HANDOFF_DB_URL") or f"sqlite:///{data_dir / 'handoff.db'}",
        events_db_url=_raw(env, "SEN_EVENTS_DB_URL") or f"sqlite:///{data_dir / 'events.db'}",
        tracker_db_url=_raw(env, "SEN_TRACKER_DB_URL") or f"sqlite:///{data_dir / 'rasa.db'}",
        rasa_url=_raw(env, "SEN_RASA_URL") or DEFAULT_RASA_URL,
        rasa_jwt_secret=_raw(env, "SEN_RASA_JWT_SECRET"),
        adviser_api_port=_cast(env, "SEN_ADVISER_API_PORT", int, 5056, whole),
        handoff_watcher=_flag(env, "SEN_HANDOFF_WATCHER"),
        opening_hours=opening_hours,
        answer_threshold=_cast(env, "SEN_ANSWER_THRESHOLD", float, 0.55, number),
        intent_threshold=_cast(env, "SEN_INTENT_THRESHOLD", float, 0.35, number),
        actions=ActionsConfig(
            host=_raw(env, "SEN_ACTIONS_HOST") or "127.0.0.1",
            port=_cast(env, "SEN_ACTIONS_PORT", int, 5055, whole),
            secret=_raw(env, "SEN_ACTIONS_SECRET"),
        ),
        web=WebConfig(
            port=_cast(env, "SEN_WEB_PORT", int, 5080, whole),
            widget_server=_raw(env, "SEN_WIDGET_SERVER") or DEFAULT_RASA_URL,
        ),
        widget=WidgetConfig(
            origins=_origins(_raw(env, "SEN_WIDGET_ORIGINS")),
            secret=_raw(env, "SEN_WIDGET_SECRET"),
            socketio_redis_url=_raw(env, "SEN_SOCKETIO_REDIS_URL"),
        ),
        console=ConsoleConfig(
            port=_cast(env, "SEN_CONSOLE_PORT", int, 5057, whole),
            secure_cookies=_flag(env, "SEN_CONSOLE_SECURE_COOKIES"),
            retention_days=_cast(env, "SEN_RETENTION_DAYS", int, 365, whole),
        ),
        limits=LimitsConfig(
            rate_limit=parse_rate_limit(_raw(env, "SEN_RATE_LIMIT")),
            session_limit=parse_rate_limit(
                _raw(env, "SEN_SESSION_LIMIT"), DEFAULT_SESSION_LIMIT, "SEN_SESSION_LIMIT"
            ),
            redis_url=_raw(env, "SEN_LIMITS_REDIS_URL"),
        ),
        channels=ChannelsConfig(
            id_secret=_raw(env, "SEN_CHANNEL_ID_SECRET"),
            rest_secret=_raw(env, "SEN_REST_SECRET"),
            telegram=TelegramConfig(
                token=_stripped(env, "SEN_TELEGRAM_TOKEN"),
                secret_token=_stripped(env, "SEN_TELEGRAM_SECRET_TOKEN"),
                api_url=_stripped(env, "SEN_TELEGRAM_API_URL", "https://api.telegram.org"),
            ),
            twilio=TwilioConfig(
                account_sid=_stripped(env, "SEN_TWILIO_ACCOUNT_SID"),
                auth_token=_stripped(env, "SEN_TWILIO_AUTH_TOKEN"),
                webhook_url=_stripped(env, "SEN_TWILIO_WEBHOOK_URL"),
                sms_from=_stripped(env, "SEN_TWILIO_SMS_FROM"),
                whatsapp_from=_stripped(env, "SEN_TWILIO_WHATSAPP_FROM"),
                api_url=_stripped(env, "SEN_TWILIO_API_URL", "https://api.twilio.com"),
            ),
            messenger=MessengerConfig(
                page_token=_stripped(env, "SEN_MESSENGER_PAGE_TOKEN"),
                app_secret=_stripped(env, "SEN_MESSENGER_APP_SECRET"),
                verify_token=_stripped(env, "SEN_MESSENGER_VERIFY_TOKEN"),
                api_url=_stripped(env, "SEN_MESSENGER_API_URL", "https://graph.facebook.com/v19.0"),
            ),
        ),
        production=ProductionConfig(
            postgres_url=_raw(env, "SEN_POSTGRES_URL")
            or "postgresql://postgres@127.0.0.1:5432/sen",
            tracker_db=_raw(env, "SEN_TRACKER_DB") or "sen_tracker",
            redis_url=_raw(env, "SEN_REDIS_URL") or "redis://127.0.0.1:6379/1",
            rabbitmq_url=_raw(env, "SEN_RABBITMQ_URL") or "amqp://guest:guest@127.0.0.1:5672/",
            rabbitmq_queue=_raw(env, "SEN_RABBITMQ_QUEUE") or "sen_events",
            tracker_retry_seconds=_cast(env, "SEN_TRACKER_RETRY_SECONDS", float, 30.0, number),
            broker_drain_seconds=_drain_seconds(_raw(env, "SEN_BROKER_DRAIN_SECONDS")),
            log_level=_raw(env, "SEN_LOG_LEVEL") or "INFO",
        ),
    )


# --- secrets kept in the data folder -----------------------------------------------------------
def stored_secret(data_dir: Path, name: str) -> str:
    """A random secret made once and kept in the data folder, readable by its owner only."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it a moment ago
            return path.read_text().strip()
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def jwt_secret(data_dir: Path, settings: Settings | None = None) -> str:
    """The secret that signs JWTs for Rasa's HTTP API: SEN_RASA_JWT_SECRET, or one made once and
    kept in the data folder (0600)."""
    given = (settings or load_settings()).rasa_jwt_secret
    return given or stored_secret(data_dir, "rasa-jwt-secret")


def actions_secret(data_dir: Path, settings: Settings | None = None) -> str:
    """The secret Rasa sends the action server in ``bot.contract.ACTIONS_SECRET_HEADER``:
    SEN_ACTIONS_SECRET, or one made once and kept in the data folder (0600)."""
    given = (settings or load_settings()).actions.secret
    return given or stored_secret(data_dir, "actions-secret")


# --- the documentation -------------------------------------------------------------------------
def variables() -> Iterator[tuple[str, Variable]]:
    """Every variable, with the title of its group, in the order of the fields."""

    def walk(cls: type, title: str) -> Iterator[tuple[str, Variable]]:
        hints = typing.get_type_hints(cls)
        groups = []
        for item in fields(cls):
            for variable in item.metadata.get("variables", ()):
                yield title, variable
            if "group" in item.metadata:
                groups.append((hints[item.name], item.metadata["group"]))
        for group, group_title in groups:
            yield from walk(group, group_title)

    yield from walk(Settings, "Core")


def markdown() -> str:
    """The tables of docs/settings.md."""
    lines: list[str] = []
    title = None
    for group, variable in variables():
        if group != title:
            title = group
            lines += ["", f"## {title}", "", "| variable | type | default | used by | what |"]
            lines.append("|---|---|---|---|---|")
        default = variable.default.replace("|", "\\|")
        if not default.startswith(("unset", "made once")):
            default = f"`{default}`"
        lines.append(
            f"| `{variable.name}` | {variable.type} | {default} | {variable.used_by} "
            f"| {variable.what} |"
        )
    return "\n".join(lines).lstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
