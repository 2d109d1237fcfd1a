"""One module per channel (web chat, Telegram, WhatsApp, e-mail), each with both directions."""
