"""``POST /webhooks/sumup``: SumUp says a checkout changed. Unsigned, so it is only a
trigger: the checkout is re-read from SumUp and only what SumUp answers counts
(docs/EXTERNAL-APIS.md). An unknown checkout id or event type changes nothing. Answers 200
quickly; 503 when SumUp cannot be read (SumUp retries, and the worker polls anyway)."""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint, jsonify, request

from shared.infrastructure import inputs
from shared.infrastructure.context import db_session, services
from shared.infrastructure.csrf import csrf_exempt
from shared.services.cart.sumup import SumUpError

log = logging.getLogger(__name__)

bp = Blueprint("sumup_webhooks", __name__)

MAX_BODY = 4096


@bp.post("/webhooks/sumup")
@csrf_exempt("SumUp's webhook: unsigned, it only triggers a re-read of the checkout from SumUp")
async def sumup_webhook() -> Any:
    raw = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    if len(raw) > MAX_BODY:
        return jsonify({"status": "ignored"}), 413
    try:
        body = inputs.parse_json(raw)
    except inputs.JSONBodyError:
        return jsonify({"status": "ignored"}), 400
    if not isinstance(body, dict) or body.get("event_type") != "CHECKOUT_STATUS_CHANGED":
        return jsonify({"status": "ignored"})
    checkout_id = body.get("id")
    if not isinstance(checkout_id, str) or not 0 < len(checkout_id) <= 100:
        return jsonify({"status": "ignored"})
    cart = services().cart
    db = db_session()
    order_id = await cart.order_id_for_checkout(db, checkout_id)
    if order_id is None:
        # Not a checkout of ours: nothing to re-read, nothing changes.
        return jsonify({"status": "ignored"})
    try:
        outcome = await cart.sync_payment(db, order_id)
    except SumUpError as err:
        log.warning("sumup webhook for order %s: re-read failed: %s", order_id, err)
        return jsonify({"status": "retry"}), 503
    return jsonify({"status": outcome.result})
