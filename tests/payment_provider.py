"""The payment provider as the tests play it: signed payment webhooks."""

from __future__ import annotations

import json
import time

from backend.payments import webhook

PAYMENTS_WEBHOOK_SECRET = "test-payments-webhook-secret"
PAYMENTS = "/api/v1/payments"


def signed_headers(body: bytes, *, secret: str = PAYMENTS_WEBHOOK_SECRET, timestamp=None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        webhook.TIMESTAMP_HEADER: str(timestamp),
        webhook.SIGNATURE_HEADER: webhook.sign(secret=secret, timestamp=timestamp, body=body),
    }


def report_payment(client, payment: dict, **signing):
    """POST the payment as the provider does: the raw JSON body, signed."""
    body = json.dumps(payment).encode()
    return client.post(PAYMENTS, content=body, headers=signed_headers(body, **signing))
