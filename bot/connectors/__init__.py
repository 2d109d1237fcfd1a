"""Rasa's channel connectors for the gateway.

Rasa imports this package when it loads `credentials.yml`, before it serves anything, so the
two tunings of the Rasa process are installed here: cheaper validation of the action server's
answers, and the SQLite tracker store in WAL mode.
"""

from connectors import action_response, sqlite_tracker_store

action_response.install()
sqlite_tracker_store.install()
