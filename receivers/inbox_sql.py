"""The hot path's SQL: insert-or-ignore a delivery and apply the newest state, per dialect.

Written as plain SQL on purpose: the receiver does one round trip per event on a held
driver connection (see the README's benchmark section for why SQLAlchemy is not used here).
Ordering rule (documented in the README): a parcel status replaces the stored one only if
(timestamp, carrier_status_change_timestamp or -1, status id, event hash) is greater; an
integration state only if (timestamp, event hash) is greater. Equal tuples mean the same
event, so a redelivery or a replay never changes anything.
"""

from __future__ import annotations

import re

INSERT_EVENT = """
INSERT INTO webhook_events (event_hash, received_at, action, event_timestamp,
    integration_id, parcel_id, outcome, signing_key, body)
VALUES (:event_hash, :received_at, :action, :event_timestamp,
    :integration_id, :parcel_id, {outcome}, :signing_key, :body)
ON CONFLICT (event_hash) DO NOTHING
"""

UPSERT_PARCEL = """
INSERT INTO parcel_states (parcel_id, event_timestamp, carrier_timestamp, status_id,
    status_message, tracking_number, event_hash)
VALUES (:parcel_id, :event_timestamp, :carrier_timestamp, :status_id,
    :status_message, :tracking_number, :event_hash)
ON CONFLICT (parcel_id) DO UPDATE SET
    event_timestamp = excluded.event_timestamp,
    carrier_timestamp = excluded.carrier_timestamp,
    status_id = excluded.status_id,
    status_message = excluded.status_message,
    tracking_number = excluded.tracking_number,
    event_hash = excluded.event_hash
WHERE (excluded.event_timestamp, COALESCE(excluded.carrier_timestamp, -1),
       excluded.status_id, excluded.event_hash)
    > (parcel_states.event_timestamp, COALESCE(parcel_states.carrier_timestamp, -1),
       parcel_states.status_id, parcel_states.event_hash)
"""

UPSERT_INTEGRATION = """
INSERT INTO integration_states (integration_id, event_timestamp, action, deleted,
    webhook_url, webhook_active, service_point_enabled, service_point_carriers, event_hash)
VALUES (:integration_id, :event_timestamp, :action, :deleted,
    :webhook_url, :webhook_active, :service_point_enabled, :service_point_carriers, :event_hash)
ON CONFLICT (integration_id) DO UPDATE SET
    event_timestamp = excluded.event_timestamp,
    action = excluded.action,
    deleted = excluded.deleted,
    webhook_url = excluded.webhook_url,
    webhook_active = excluded.webhook_active,
    service_point_enabled = excluded.service_point_enabled,
    service_point_carriers = excluded.service_point_carriers,
    event_hash = excluded.event_hash
WHERE (excluded.event_timestamp, excluded.event_hash)
    > (integration_states.event_timestamp, integration_states.event_hash)
"""

STATE_HASH = {
    "parcel": "SELECT event_hash FROM parcel_states WHERE parcel_id = :parcel_id",
    "integration": (
        "SELECT event_hash FROM integration_states WHERE integration_id = :integration_id"
    ),
}
UPSERT = {"parcel": UPSERT_PARCEL, "integration": UPSERT_INTEGRATION}

MARK_OUTCOME = "UPDATE webhook_events SET outcome = :outcome WHERE id = :id"
UPDATE_CLASSIFICATION = """
UPDATE webhook_events SET action = :action, event_timestamp = :event_timestamp,
    integration_id = :integration_id, parcel_id = :parcel_id, outcome = :outcome
WHERE id = :id
"""


def insert_with_state(kind: str | None) -> str:
    """PostgreSQL: upsert the state and insert the delivery in ONE autocommit statement.

    The state upsert runs first (a data-modifying CTE) so the delivery row is written once
    with its final outcome; ON CONFLICT DO UPDATE re-checks the WHERE against the newest
    committed row, so concurrent deliveries for one parcel cannot both win.
    """
    if kind is None:
        return INSERT_EVENT.format(outcome=":outcome") + " RETURNING id, outcome"
    # Built from the fixed fragments above only; every value is a bound parameter.
    return (
        f"WITH up AS ({UPSERT[kind]} RETURNING 1) "  # noqa: S608
        + INSERT_EVENT.format(
            outcome="CASE WHEN EXISTS (SELECT 1 FROM up) THEN 'applied' ELSE 'stale' END"
        )
        + " RETURNING id, outcome"
    )


# A `:name` placeholder (not `::type` casts).
NAMED_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")


def pg(sql: str) -> str:
    """Turn `:name` parameters into psycopg's `%(name)s`."""
    return NAMED_PARAMETER.sub(r"%(\1)s", sql)
