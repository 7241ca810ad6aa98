"""Guessing the operator token: a limit shared by every worker, keyed on the real client
address, that never refuses the right token (real gunicorn, 3 workers)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from receivers.access import MAX_FAILURES_PER_WINDOW
from tests.conftest import Gunicorn
from tests.receiver_kit import AUTH, real_keys_env

pytestmark = pytest.mark.slow


def test_thirty_wrong_tokens_across_three_workers_then_the_right_one_is_accepted(
    gunicorn: Callable[..., Gunicorn], tmp_path: Path
) -> None:
    server = gunicorn(real_keys_env(f"sqlite:///{tmp_path / 'guess.sqlite3'}"), workers=3)
    statuses = []
    for n in range(30):
        # A new connection each time (gunicorn hands them to any worker), each with a
        # different forged X-Forwarded-For: neither resets the count.
        headers = {"Authorization": f"Bearer wrong-{n}", "X-Forwarded-For": f"203.0.113.{n}"}
        statuses.append(requests.get(server.url + "/api/events", headers=headers, timeout=10))
    codes = [r.status_code for r in statuses]
    assert codes == [401] * MAX_FAILURES_PER_WINDOW + [429] * (30 - MAX_FAILURES_PER_WINDOW)
    assert "Retry-After" in statuses[-1].headers

    assert requests.get(server.url + "/api/events", headers=AUTH, timeout=10).status_code == 200
    log = server.log_path.read_text()
    # One warning per counted failure, none for the refused-while-locked ones.
    assert log.count("operator_token_rejected") == MAX_FAILURES_PER_WINDOW
