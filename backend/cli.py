"""Command line of the backend: migrate, seed, serve, demo, scheduled jobs and personal data."""

from __future__ import annotations

import argparse
import logging
import sys

from backend.config import REPO_ROOT, get_settings
from backend.db import get_engine, session_factory, utcnow
from backend.migrate import upgrade_to_head


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations")
    seed = commands.add_parser("seed", help="load the deterministic demo data")
    seed.add_argument("--reset", action="store_true", help="drop everything first")
    serve = commands.add_parser("serve", help="run the backend API")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    commands.add_parser("guide", help="print where the demo runs and who to verify as")
    commands.add_parser("break-promises", help="mark promises whose day has passed as broken")
    segments = commands.add_parser("segments", help="risk segments from the scorecard")
    segments.add_subparsers(dest="segments_command", required=True).add_parser(
        "recompute", help="rescore every debtor now (the scheduler does it nightly)"
    )
    commands.add_parser(
        "accrue", help="post late interest and fees due up to today (the scheduler does it hourly)"
    )
    commands.add_parser("telegram-poll", help="run the Telegram bot in polling mode (local use)")
    unlock = commands.add_parser(
        "unlock-verification",
        help="lift a debtor's lock on knowledge-only verification (logged with who lifted it)",
    )
    unlock.add_argument("debtor", help="the debtor's external reference, e.g. C-BR-0001")
    unlock.add_argument("--by", required=True, help="who lifts it, e.g. agent:maria")
    unlock.add_argument("--reason", default="", help="why, for the interaction log")
    webhook = commands.add_parser("telegram-set-webhook", help="tell Telegram the webhook URL")
    webhook.add_argument("url", help="https://<public host>/channels/telegram/webhook")
    sign = commands.add_parser(
        "sign-contact",
        help="print the gateway's signature of a contact, to call its API routes by hand",
    )
    sign.add_argument("channel", help="webchat, telegram or whatsapp")
    sign.add_argument("external_id", help="the sender's id on that channel")
    debtor = commands.add_parser("debtor", help="export or erase one debtor's personal data")
    debtor_commands = debtor.add_subparsers(dest="debtor_command", required=True)
    export = debtor_commands.add_parser("export", help="everything held about a debtor, as JSON")
    export.add_argument("external_ref", help="the creditor's reference of the debtor")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    erase = debtor_commands.add_parser(
        "erase", help="erase a debtor's personal data, keeping the record of their debts"
    )
    erase.add_argument("external_ref", help="the creditor's reference of the debtor")
    erase.add_argument("--yes", action="store_true", help="confirm: an erasure is final")
    # --- staff console accounts (backend/staff/cli.py) ---
    from backend.staff.cli import add_commands as add_staff_commands

    add_staff_commands(commands)
    # --- end staff ---
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    settings = get_settings()
    if args.command == "migrate":
        _migrate(settings.database_url)
    elif args.command == "seed":
        _seed(settings.database_url, reset=args.reset)
    elif args.command == "serve":
        _serve(args.host or settings.host, args.port or settings.port)
    elif args.command == "guide":
        _print_demo_guide(settings.host, settings.port)
    elif args.command == "break-promises":
        from backend.promises.service import break_overdue

        with session_factory(get_engine())() as db_session:
            broken = break_overdue(db_session=db_session, now=utcnow())
        print(f"{len(broken)} promise(s) marked broken")
    elif args.command == "segments":
        from backend.segments.service import recompute_all

        with session_factory(get_engine())() as db_session:
            print(recompute_all(db_session, utcnow()).line())
    elif args.command == "accrue":
        from backend.ledger.service import accrue_all

        with session_factory(get_engine())() as db_session:
            print(f"{accrue_all(db_session=db_session, now=utcnow())} debt(s) brought up to date")
    elif args.command == "unlock-verification":
        return _unlock_verification(args.debtor, lifted_by=args.by, reason=args.reason)
    elif args.command == "telegram-poll":
        from backend.gateway.channels.telegram_polling import run_polling

        run_polling(settings)
    elif args.command == "telegram-set-webhook":
        import asyncio

        from backend.gateway.channels.telegram_polling import set_webhook

        asyncio.run(set_webhook(settings, args.url))
    elif args.command == "sign-contact":
        from datetime import timedelta

        from backend.contacts.signing import sign_contact

        print(
            sign_contact(
                channel=args.channel,
                external_id=args.external_id,
                secret=settings.contact_signing_secret,
                now=utcnow(),
                ttl=timedelta(seconds=settings.contact_signature_ttl_seconds),
            )
        )
    elif args.command == "debtor":
        return _debtor(args)
    elif args.command == "staff":
        from backend.staff.cli import run as run_staff

        return run_staff(args, sessions=session_factory(get_engine()), now=utcnow())
    return 0


def _migrate(database_url: str) -> None:
    if database_url.startswith("sqlite:///"):
        (REPO_ROOT / "var").mkdir(exist_ok=True)
    upgrade_to_head(database_url)


def _seed(database_url: str, *, reset: bool) -> None:
    from backend.seed import seed

    if reset:
        from alembic import command

        from backend.migrate import alembic_config

        _migrate(database_url)
        command.downgrade(alembic_config(database_url), "base")
    _migrate(database_url)
    with session_factory(get_engine())() as db_session:
        seed(db_session=db_session, now=utcnow())


def _unlock_verification(external_ref: str, *, lifted_by: str, reason: str) -> int:
    from sqlalchemy import select

    from backend.debtors.models import Debtor
    from backend.verification import service as verification
    from backend.verification.models import LockLift

    with session_factory(get_engine())() as db_session:
        debtor_id = db_session.scalar(select(Debtor.id).where(Debtor.external_ref == external_ref))
        if debtor_id is None:
            print(f"no debtor {external_ref}", file=sys.stderr)
            return 1
        lifted = verification.lift_lock(
            db_session=db_session,
            debtor_id=debtor_id,
            lift=LockLift(lifted_by=lifted_by, reason=reason),
            now=utcnow(),
        )
    print(f"{external_ref}: knowledge-only verification open (locked: {lifted.locked})")
    return 0


def _serve(host: str, port: int) -> None:
    import uvicorn

    # backend.access_log writes the access log, without ids, phone numbers or queries.
    uvicorn.run("backend.main:app", host=host, port=port, log_level="info", access_log=False)


def _debtor(args: argparse.Namespace) -> int:
    import json
    import os

    from backend.debtors.service import get_by_external_ref
    from backend.privacy.erasure import erase
    from backend.privacy.export import export

    with session_factory(get_engine())() as db_session:
        debtor = get_by_external_ref(db_session=db_session, external_ref=args.external_ref)
        if debtor is None:
            print(f"no debtor with reference {args.external_ref!r}", file=sys.stderr)
            return 1
        if args.debtor_command == "export":
            data = export(db_session=db_session, debtor=debtor, now=utcnow(), actor_ref="cli")
            text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
            if args.output:
                # Only its owner may read a file full of someone's personal data.
                descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with open(descriptor, "w", encoding="utf-8") as output:
                    output.write(text)
            else:
                sys.stdout.write(text)
            return 0
        if not args.yes:
            print(
                f"Erasing {args.external_ref} overwrites the name, document, birth date, phone, "
                "e-mail and channel ids, and makes every logged message unreadable; the debts "
                "and their history stay. It cannot be undone: run again with --yes.",
                file=sys.stderr,
            )
            return 2
        erased = erase(
            db_session=db_session,
            debtor=debtor,
            now=utcnow(),
            actor_ref="cli",
            forget_conversations=_rasa_forgetter(get_settings().tracker_store_url),
        )
    if erased.already_erased:
        print(f"{args.external_ref} was already erased")
    else:
        print(
            f"{args.external_ref} erased: {erased.contacts} contact(s), "
            f"{erased.keys_destroyed} key(s) destroyed"
        )
    return 0


def _rasa_forgetter(tracker_store_url: str):
    """Deletes conversations from Rasa's tracker store, when one is configured."""
    if not tracker_store_url:
        print("note: ACORDO_TRACKER_STORE_URL is not set; Rasa's conversations were kept")
        return None
    from backend.privacy.rasa_trackers import forget_conversations

    return lambda senders: forget_conversations(
        tracker_store_url=tracker_store_url, sender_ids=senders
    )


def _print_demo_guide(host: str, port: int) -> None:
    from backend.seed import DEMO_PERSONAS

    print(
        f"\nWeb chat:    http://{host}:{port}/chat   (the assistant needs about a minute to "
        "warm up)"
    )
    print(f"Backend API: http://{host}:{port}/docs  (service token: ACORDO_SERVICE_TOKEN)")
    print(
        "Reminders: e-mailed to the demo debtors within their local contact hours; read them "
        "at http://127.0.0.1:8025/ and follow their link into the web chat"
    )
    # --- staff console (backend/staff/service.py DEMO_STAFF) ---
    from backend.staff.service import DEMO_STAFF

    print(f"Staff console: http://{host}:{port}/console   (sign in as one of these demo accounts)")
    for email, _name, role, password in DEMO_STAFF:
        print(f"  {role.value:<11} {email:<24} password {password}")
    # --- end staff ---
    print("Demo debtors (verify with the last 4 document characters and the birth date):")
    for persona in DEMO_PERSONAS:
        suffix = "".join(ch for ch in persona.document if ch.isalnum())[-4:]
        print(
            f"  {persona.full_name:<14} {persona.language.value:<6} {suffix}  "
            f"{persona.birth_date.isoformat()}"
        )
    print()
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
