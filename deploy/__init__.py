"""The production profile: PostgreSQL, Redis and every service of the stack on one machine.

`python -m deploy.profile up` (or `./run production`) starts it in the foreground.
"""
