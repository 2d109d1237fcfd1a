"""The conversation gateway: messages in (channel → log → Rasa) and out (outbox → gate → send)."""
