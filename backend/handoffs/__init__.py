"""Handoffs: who owns a conversation (the bot, the staff queue, an agent) and why."""
