"""Conversations: the gateway between channels and the Rasa assistant, and the web chat."""
