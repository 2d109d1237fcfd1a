"""Schemathesis against the backend's OpenAPI, in process: no generated request gets a 5xx.

The app runs on a migrated SQLite database with the demo seed and a verified web chat contact,
so that generated requests reach the rules, not only the authentication. Each operation gets
valid and invalid cases (schemathesis' positive and negative modes), each in one of three
guises, chosen by Hypothesis with the rest of the case:

- `generated`: the path as generated, signed as its real caller signs (service token and
  contact signature, payment HMAC, WhatsApp app secret, a staff session for the console);
- `known`: the path points at the verified contact and its debt (deep into the rules);
- `anonymous`: no token, no signature (the refusals themselves must be clean).

Besides `not_a_server_error`, a 2xx answer must match the declared response schema (but for the
`time` format, see `local_times`). Rasa and the Graph API are loopback ports nobody listens on:
the gateway must answer without them. The run is derandomized, so that CI replays the same
cases.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import socket
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock_time
from urllib.parse import unquote

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.compat import BaseExceptionGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings, get_settings
from backend.contacts.models import ChannelContact
from backend.contacts.signing import HEADER as CONTACT_SIGNATURE_HEADER
from backend.contacts.signing import sign_contact
from backend.db import get_db, make_engine, session_factory
from backend.debtors.models import Debtor
from backend.debts.models import Debt
from backend.deps import get_now
from backend.enums import Channel
from backend.gateway.channels import whatsapp_api
from backend.main import create_app
from backend.payments import webhook
from backend.seed import seed
from backend.staff import service as staff_service
from backend.staff.deps import COOKIE_NAME
from backend.staff.models import StaffRole
from tests import staff_login
from tests.conftest import CONTACT_ROUTE, SERVICE_TOKEN
from tests.payment_provider import PAYMENTS_WEBHOOK_SECRET

# Cases per operation: the 40 operations make well over 1,000 (asserted below).
EXAMPLES_PER_OPERATION = 40
MIN_CASES = 1000
KNOWN_SENDER = "fuzz-verified-visitor"
GUISES = ("generated", "known", "anonymous")
CHECKS = [not_a_server_error, response_schema_conformance]
WHATSAPP_APP_SECRET = "fuzz-whatsapp-app-secret"
TODAY = datetime.combine(date.today(), clock_time(15, 0), tzinfo=timezone.utc)


def closed_port_url() -> str:
    """A loopback URL nothing listens on: the gateway's Rasa is down, it must still answer."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


class ServiceCaller(requests.auth.AuthBase):
    """Signs each request as its real caller would: token, contact signature, payment HMAC."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        path = request.path_url.split("?", 1)[0]
        request.headers["Authorization"] = f"Bearer {SERVICE_TOKEN}"
        found = CONTACT_ROUTE.match(path)
        if found:
            request.headers[CONTACT_SIGNATURE_HEADER] = sign_contact(
                channel=unquote(found.group(1)),
                external_id=unquote(found.group(2)),
                secret=self.settings.contact_signing_secret,
                now=datetime.now(timezone.utc),
                ttl=timedelta(minutes=5),
            )
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        if path == "/api/v1/payments":
            timestamp = int(time.time())
            request.headers[webhook.TIMESTAMP_HEADER] = str(timestamp)
            request.headers[webhook.SIGNATURE_HEADER] = webhook.sign(
                secret=PAYMENTS_WEBHOOK_SECRET, timestamp=timestamp, body=body
            )
        if path == "/channels/whatsapp/webhook":
            digest = hmac.new(WHATSAPP_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
            request.headers[whatsapp_api.SIGNATURE_HEADER] = f"sha256={digest}"
        return request


@pytest.fixture(scope="module")
def seeded_app(sqlite_template, tmp_path_factory):
    """The app on a seeded SQLite copy, with a verified web chat contact and its debt."""
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite3"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    sessions = session_factory(engine)
    with sessions() as db_session:
        seed(db_session=db_session, now=TODAY)
        debtor = db_session.scalar(select(Debtor).where(Debtor.external_ref == "C-BR-0001"))
        debt = db_session.scalars(select(Debt).where(Debt.debtor_id == debtor.id)).first()
        db_session.add(
            ChannelContact(
                channel=Channel.WEBCHAT,
                external_id=KNOWN_SENDER,
                debtor_id=debtor.id,
                verified_at=TODAY,
            )
        )
        supervisor = staff_login.staff_member(db_session, role=StaffRole.SUPERVISOR)
        staff_token, _ = staff_service.open_session(db_session, staff=supervisor, now=TODAY)
        db_session.commit()
        known = {
            "channel": Channel.WEBCHAT.value,
            "external_id": KNOWN_SENDER,
            "reference": debt.reference,
            "external_ref": debtor.external_ref,
            "debtor_id": debtor.id,
            "creditor_id": debtor.creditor_id,
            "staff_token": staff_token,
        }
    app_settings = Settings(
        environment="test",
        database_url=f"sqlite:///{path}",
        service_token=SERVICE_TOKEN,
        payments_webhook_secret=PAYMENTS_WEBHOOK_SECRET,
        rasa_url=closed_port_url(),
        rasa_timeout_seconds=2,
        whatsapp_phone_number_id="fuzz-number",
        whatsapp_access_token="fuzz-access-token",
        whatsapp_app_secret=WHATSAPP_APP_SECRET,
        whatsapp_verify_token="fuzz-verify-token",
        whatsapp_graph_base_url=closed_port_url(),
        whatsapp_timeout_seconds=2,
        webchat_rate_limit="1000000/minute",
    )
    app = create_app()

    def test_db() -> Iterator[Session]:
        with sessions() as session:
            yield session

    app.dependency_overrides[get_db] = test_db
    app.dependency_overrides[get_settings] = lambda: app_settings
    app.dependency_overrides[get_now] = lambda: TODAY
    yield app, app_settings, known
    asgi.shutdown_lifespans()
    engine.dispose()


def local_times(spec: dict) -> dict:
    """The spec with `format: time` read as a wall-clock time.

    Pydantic declares `datetime.time` fields as JSON Schema's `time`, which (RFC 3339) requires
    a UTC offset; the contact rules' windows are local times ("08:00:00") on purpose.
    """
    if isinstance(spec, dict):
        if spec.get("format") == "time":
            spec = {key: value for key, value in spec.items() if key != "format"}
            spec["pattern"] = r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"
        return {key: local_times(value) for key, value in spec.items()}
    if isinstance(spec, list):
        return [local_times(item) for item in spec]
    return spec


def with_known_contact(case, known: dict) -> None:
    """Point the case's path at the verified contact (and its debt, debtor, creditor)."""
    if not case.path_parameters:
        return
    for name in list(case.path_parameters):
        if name in known:
            case.path_parameters[name] = known[name]


def fuzz(operation, *, known: dict, signed, anonymous, cases: Counter[str], outcomes: Counter[str]):
    """A Hypothesis test of one operation: each case in one of the guises, checked."""

    cases_of_both_kinds = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases_of_both_kinds, guise=st.sampled_from(GUISES))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    def run(case, guise):
        cases[operation.label] += 1
        if guise == "known":
            with_known_contact(case, known)
        response = case.call(session=anonymous if guise == "anonymous" else signed)
        outcomes[f"{response.status_code // 100}xx"] += 1
        if response.status_code < 300 or response.status_code >= 500:
            case.validate_response(response, checks=CHECKS)
        else:
            case.validate_response(response, checks=[not_a_server_error])

    return run


def test_no_generated_request_gets_a_server_error(seeded_app, capsys):
    app, app_settings, known = seeded_app
    schema = schemathesis.openapi.from_dict(local_times(app.openapi()))
    schema.app = app
    signed = asgi.get_client(app)
    signed.auth = ServiceCaller(app_settings)
    signed.cookies.set(COOKIE_NAME, known["staff_token"])
    anonymous = asgi.get_client(app)
    cases: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    timings: dict[str, float] = {}

    with signed, anonymous:
        for result in schema.get_all_operations():
            operation = result.ok()
            run = fuzz(
                operation,
                known=known,
                signed=signed,
                anonymous=anonymous,
                cases=cases,
                outcomes=outcomes,
            )
            started = time.monotonic()
            try:
                run()
            # Collected, so that one run reports every operation; a group holds several.
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label}: {type(exc).__name__}: {exc}")
            timings[operation.label] = time.monotonic() - started

    total = sum(cases.values())
    with capsys.disabled():
        print(f"\nschemathesis: {total} cases over {len(cases)} operations, {dict(outcomes)}")
        for label, seconds in sorted(timings.items(), key=lambda item: -item[1]):
            print(f"  {seconds:6.1f} s {cases[label]:4d} cases  {label}")
    assert not failures, "\n\n".join(failures)
    assert total >= MIN_CASES, cases
    # Not only refusals: a good share of the cases got through to the rules and were served.
    assert outcomes["2xx"] >= total // 10, outcomes
