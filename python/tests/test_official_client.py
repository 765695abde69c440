"""Envision's official Python API client, enos-poseidon 0.2.0, unchanged, through the
fixtures: every call goes through ``poseidon.urlopen`` as an application makes it. The only
thing touched is, in strict mode, the module-level ``pubkey`` the client encrypts its token
under (the mock's test key instead of the gateway's), as tests/python/official_client.py does."""

from __future__ import annotations

from typing import Any

import poseidon.poseidon as official
import pytest
from conftest import APP_KEY, APP_SECRET, ORG, REPO

from enos_cert_mock import EnosMock, make_csr, new_key


def full_flow(base: str, asset: str) -> dict[str, Any]:
    """apply -> list -> renew -> revoke -> list with the official client; each answer."""

    def url(action: str) -> str:
        return f"{base}/connect-service/v2.0/certificates?action={action}&orgId={ORG}&assetId={asset}"

    csr = make_csr(new_key("RSA"), f"poseidon-{asset}")
    r: dict[str, Any] = {}
    r["apply"] = official.urlopen(
        APP_KEY, APP_SECRET, url("apply"), data={"csr": csr, "validDay": 30}, method="POST"
    )
    r["list1"] = official.urlopen(APP_KEY, APP_SECRET, url("list"), method="GET")
    first = r["apply"]["data"]["certSN"]
    r["renew"] = official.urlopen(
        APP_KEY, APP_SECRET, url("renew"), data={"certSn": int(first)}, method="POST"
    )
    second = r["renew"]["data"]["certSN"]
    r["revoke"] = official.urlopen(
        APP_KEY, APP_SECRET, url("revoke"), data={"certSn": second, "reason": 1}, method="POST"
    )
    r["list2"] = official.urlopen(APP_KEY, APP_SECRET, url("list"), method="GET")
    return r


def assert_flow(enos_mock: EnosMock, r: dict[str, Any], asset: str, revoker: str) -> None:
    for step in ("apply", "list1", "renew", "revoke", "list2"):
        assert (r[step]["code"], r[step]["msg"]) == (0, "OK"), (step, r[step])
    first, second = r["apply"]["data"]["certSN"], r["renew"]["data"]["certSN"]
    assert [c["certSN"] for c in r["list1"]["data"]] == [first]
    listed = [(c["certSN"], c["certStatus"], c["revoker"], c["revokerReason"]) for c in r["list2"]["data"]]
    assert listed == [(first, 1, "IoT_Hub", "SUPERSEDED"), (second, 1, revoker, "KEY COMPROMISE")]
    # The mock saw exactly those five calls, all answered 0; both serials are on the CRL.
    assert [(e.action, e.code) for e in enos_mock.requests()] == [
        ("apply", 0),
        ("list", 0),
        ("renew", 0),
        ("revoke", 0),
        ("list", 0),
    ]
    crl = enos_mock.crl("RSA")
    assert all(crl.get_revoked_certificate_by_serial_number(int(sn)) is not None for sn in (first, second))


def test_the_official_client_in_lenient_mode(enos_mock: EnosMock) -> None:
    r = full_flow(enos_mock.url, "Uvmm5AXU")
    # The token is encrypted for the real gateway: the mock cannot open it, so the org revokes.
    assert_flow(enos_mock, r, "Uvmm5AXU", revoker=ORG)


@pytest.mark.enos_mock(auth="strict")
class TestStrictGateway:
    def test_the_official_client_with_the_mocks_key_gets_in_as_its_app(
        self, enos_mock: EnosMock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert enos_mock.health()["auth"] == "strict"
        monkeypatch.setattr(
            official, "pubkey", (REPO / "fixtures/poseidon-test-key.pub.b64").read_bytes().strip()
        )
        r = full_flow(enos_mock.url, "Kq3vT8zB")
        assert_flow(enos_mock, r, "Kq3vT8zB", revoker=APP_KEY)

    def test_the_official_client_with_the_gateways_key_is_refused(self, enos_mock: EnosMock) -> None:
        url = f"{enos_mock.url}/connect-service/v2.0/certificates?action=list&orgId={ORG}&assetId=Uvmm5AXU"
        # The client turns any non-2xx answer into None; the journal says it was the gateway's 401.
        assert official.urlopen(APP_KEY, APP_SECRET, url, method="GET") is None
        assert [(e.action, e.status, e.code) for e in enos_mock.requests()] == [("list", 401, None)]
