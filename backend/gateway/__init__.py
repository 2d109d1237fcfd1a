"""The gateway: every message between a person and the assistant, in and out, on every channel.

How a message gets IN, on channel X:
  1. The channel's module receives it: web chat `channels/webchat.py` (`POST /chat/api/messages`),
     Telegram `channels/telegram_webhook.py` (`POST /channels/telegram/webhook`, or polling,
     `channels/telegram_polling.py`) and the handlers in `channels/telegram.py`, WhatsApp
     `channels/whatsapp.py` (`POST /channels/whatsapp/webhook`, Meta's payloads parsed by
     `channels/whatsapp_api.py`). Redelivered webhooks are dropped once (`dedup.py`).
  2. `inbound.handle_inbound` logs it, answers STOP/START itself (`keywords.py`, `opt_out.py`),
     masks verification answers (`verification_answers.py`), decides the conversation's language
     (`language.py`), tells Rasa which reminder it answers, and routes it to Rasa
     (`rasa_client.py`; later, to the staff member who owns the conversation).
  3. The channel's module shows Rasa's answer (buttons as inline keyboards, WhatsApp lists…).

How a message gets OUT (the assistant writes first):
  1. The scheduler enqueues it in the outbox (`outbox.py`, table in `models.py`).
  2. The sender (`sender.py`) claims it, asks the compliance gate (`backend/campaigns/gate.py`)
     whether and where, renders it (`backend/campaigns/messages.py`), and hands it to the
     channel's adapter (`channels/base.py`: `ChannelAdapter.send`), built by
     `channels.build_adapters`: web chat (`WebchatAdapter`: stored for the page, which polls
     `GET /chat/api/messages`), Telegram (`TelegramAdapter`), WhatsApp (`WhatsAppAdapter`:
     templates outside 24 hours), e-mail (`channels/email.py`: SMTP, unsubscribe link).
  3. `inbound.record_outbound` logs it in the conversation, so a reply continues in the bot.

The app's lifespan (`lifespan.py`) owns the long-lived clients: one Rasa client, the Telegram
bot, WhatsApp's Graph API client and the adapters.
"""
