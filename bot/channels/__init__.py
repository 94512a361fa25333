"""Messaging channels: Telegram, Twilio (SMS and WhatsApp) and Facebook Messenger.

Rasa 3.6's own connectors for these platforms do not check that a webhook call really comes from
the platform (Twilio's has no signature check, Telegram's no secret token, Facebook's checks the
old SHA-1 header with a plain comparison), so anyone who knew the URL could write into a parent's
conversation. These connectors build on Rasa's ``InputChannel``/``OutputChannel`` but verify
every call before anything is read from it, and talk to the platforms' HTTP APIs themselves
(aiohttp), at a base URL taken from the environment so that tests can point them at a recorder.

Each channel is switched on by its settings in the environment (``SEN_TELEGRAM_*``,
``SEN_TWILIO_*``, ``SEN_MESSENGER_*``; see docs/channels.md) and is off otherwise: its routes
answer 404 "channel not configured". ``common`` holds what the three share: the webhook checks,
splitting long messages and numbering options.
"""
