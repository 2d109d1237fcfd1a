"""Custom Rasa components for the NLU pipeline (bot/config.yml).

Rasa imports them by module path, `components.<module>.<Class>`, so `bot/` must be on the
Python path: the `rasa` command adds its working directory, and the assistant is always run
from `bot/` (Procfile, ./run, tests).
"""
