"""End-to-end: the `sessions` function under `cargo lambda watch`, configured
from SSM (moto), talking to the Twilio emulator."""

from __future__ import annotations

import json

import requests

ADDRESSES = ["+14155550101", "+14155550102"]


# --------------------------------------------------------------------------
# helpers


def twilio_requests(emulator: str) -> list[dict]:
    response = requests.get(f"{emulator}/_emulator/requests", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def clear_twilio_requests(emulator: str) -> None:
    response = requests.delete(f"{emulator}/_emulator/requests", timeout=10)
    assert response.status_code in (200, 204), response.text
    assert twilio_requests(emulator) == []


def sequential_waves(records: list[dict]) -> int:
    """Length of the longest chain of requests in which each one started after
    the previous one finished: the number of sequential round trips the client
    needed. (Largest set of pairwise non-overlapping intervals; greedy by
    earliest finish is exact.)"""
    intervals = sorted(
        ((r["started_ms"], r["finished_ms"]) for r in records), key=lambda i: i[1]
    )
    count, last_finish = 0, None
    for started, finished in intervals:
        if last_finish is None or started >= last_finish:
            count += 1
            last_finish = finished
    return count


def summary(records: list[dict]) -> str:
    return json.dumps(
        [
            {k: r.get(k) for k in ("operation", "method", "path", "status", "started_ms", "finished_ms")}
            for r in records
        ],
        indent=1,
    )


def test_sequential_waves_counts_overlapping_requests_as_one():
    def r(start, end):
        return {"started_ms": start, "finished_ms": end}

    assert sequential_waves([]) == 0
    assert sequential_waves([r(0, 50), r(1, 52), r(2, 49)]) == 1
    assert sequential_waves([r(0, 10), r(11, 20), r(21, 30)]) == 3
    assert sequential_waves([r(46, 55), r(21, 40), r(0, 20), r(22, 45)]) == 3
    assert sequential_waves([r(0, 100), r(1, 10), r(11, 20), r(21, 30)]) == 3


# --------------------------------------------------------------------------
# the harness itself


def test_ssm_parameters_are_readable_by_path(ssm, ssm_params):
    found = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(
        Path=ssm_params.prefix, Recursive=True, WithDecryption=True
    ):
        for p in page["Parameters"]:
            found[p["Name"]] = (p["Type"], p["Value"])
    assert found == ssm_params.written
    assert found[f"{ssm_params.prefix}/number-pool"] == (
        "StringList",
        "+15005550001,+15005550002,+15005550003",
    )
    assert found[f"{ssm_params.prefix}/auth/password"] == ("SecureString", ssm_params.password)


def test_emulator_holds_the_account_from_ssm(emulator, ssm_params):
    info = requests.get(f"{emulator}/_emulator/info", timeout=10)
    assert info.status_code == 200, info.text
    assert info.json()["account_sid"] == ssm_params.account_sid


# --------------------------------------------------------------------------
# POST /sessions


def test_create_session_takes_two_sequential_waves(lambda_watch, emulator, ssm_params):
    clear_twilio_requests(emulator)

    response = requests.post(
        f"{lambda_watch}/sessions",
        auth=(ssm_params.username, ssm_params.password),
        json={"addresses": ADDRESSES},
        timeout=60,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    participants = body["participants"]
    assert len(participants) == 2, body
    bindings = [p["messaging_binding"] for p in participants]
    assert sorted(b["address"] for b in bindings) == sorted(ADDRESSES), body
    for binding in bindings:
        assert binding["proxy_address"] in ssm_params.number_pool, body

    records = twilio_requests(emulator)
    assert records, "the function made no Twilio request"
    assert all(200 <= r["status"] < 300 for r in records), summary(records)
    assert sequential_waves(records) == 2, summary(records)


def test_wrong_password_is_401_without_twilio_requests(lambda_watch, emulator, ssm_params):
    clear_twilio_requests(emulator)

    response = requests.post(
        f"{lambda_watch}/sessions",
        auth=(ssm_params.username, ssm_params.password + "-wrong"),
        json={"addresses": ADDRESSES},
        timeout=60,
    )

    assert response.status_code == 401, response.text
    assert twilio_requests(emulator) == []
