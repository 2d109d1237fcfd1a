"""`python -m backend.cli staff add|list|password|deactivate`: console accounts.

A password is never an argument (it would stay in the shell's history and the process list):
it is read from standard input with `--password-stdin`, or asked twice without echo.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from sqlalchemy.orm import Session, sessionmaker

from backend.enums import Actor
from backend.exceptions import DomainError
from backend.interactions.service import record
from backend.staff import service
from backend.staff.models import StaffRole


def add_commands(commands: argparse._SubParsersAction) -> None:
    staff = commands.add_parser("staff", help="console accounts: add, list, password, deactivate")
    staff_commands = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_commands.add_parser("add", help="create a console account")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True, help="the name colleagues see, e.g. 'Maria Silva'")
    add.add_argument("--role", required=True, choices=[role.value for role in StaffRole])
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (else: asked twice)",
    )
    staff_commands.add_parser("list", help="every console account")
    password = staff_commands.add_parser(
        "password", help="set a new password for an account and end its sessions"
    )
    password.add_argument("email")
    password.add_argument("--password-stdin", action="store_true", help="as for add")
    deactivate = staff_commands.add_parser(
        "deactivate", help="stop an account from signing in and end its sessions"
    )
    deactivate.add_argument("email")


def run(
    args: argparse.Namespace,
    *,
    sessions: sessionmaker[Session],
    now: datetime,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    ask_password: Callable[[str], str] = getpass.getpass,
) -> int:
    """Run one `staff` command; the exit status."""
    import backend.models  # noqa: F401  (every mapper, for the relationships to resolve)

    with sessions() as db_session:
        try:
            if args.staff_command == "add":
                password = _password(args, stdin=stdin, ask=ask_password)
                if password is None:
                    print("the two passwords differ; nothing was created", file=err)
                    return 2
                staff = service.create_staff(
                    db_session,
                    email=args.email,
                    display_name=args.name,
                    password=password,
                    role=StaffRole(args.role),
                )
                _log(db_session, "staff.created", staff.id, staff.role.value)
                db_session.commit()
                print(f"created {staff.role.value} {staff.email} (id {staff.id})", file=out)
            elif args.staff_command == "list":
                for staff in service.list_staff(db_session):
                    state = "active" if staff.active else "deactivated"
                    print(
                        f"{staff.id:>4}  {staff.email:<32} {staff.role.value:<10} {state:<11} "
                        f"{staff.display_name}",
                        file=out,
                    )
            elif args.staff_command == "password":
                password = _password(args, stdin=stdin, ask=ask_password)
                if password is None:
                    print("the two passwords differ; nothing was changed", file=err)
                    return 2
                staff = service.set_password(
                    db_session, email=args.email, password=password, now=now
                )
                _log(db_session, "staff.password_set", staff.id, staff.role.value)
                db_session.commit()
                print(f"new password set for {staff.email}; their sessions have ended", file=out)
            elif args.staff_command == "deactivate":
                staff = service.deactivate_staff(db_session, email=args.email, now=now)
                _log(db_session, "staff.deactivated", staff.id, staff.role.value)
                db_session.commit()
                print(f"deactivated {staff.email}; their sessions have ended", file=out)
        except DomainError as exc:
            print(exc.message, file=err)
            return 1
    return 0


def _password(args: argparse.Namespace, *, stdin: TextIO, ask: Callable[[str], str]) -> str | None:
    if args.password_stdin:
        return stdin.readline().rstrip("\r\n")
    first = ask("Password (at least 12 characters): ")
    second = ask("The same password again: ")
    return first if first == second else None


def _log(db_session: Session, event: str, staff_id: int, role: str) -> None:
    """Accounts changed from the command line are in the interaction log too."""
    record(
        db_session=db_session,
        event=event,
        actor=Actor.SYSTEM,
        actor_ref="cli",
        data={"staff_id": staff_id, "role": role},
    )
