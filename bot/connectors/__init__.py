"""Rasa's channel connectors for the gateway; importing them also speeds up action calls."""

from connectors import action_response

action_response.install()
