"""The pytest recipe: the enos-cert-mock package's plugin (`pip install ./python` from a
checkout, or the wheel). No conftest.py is needed: installing the package registers the
plugin, and `enos_mock` is one mock per session (per pytest-xdist worker) on free ports,
reset to its fixtures before every test that uses it.

Two tests create the same device: the second passes only because of that reset (the
create would otherwise answer 11702)."""

import pytest

from enos_cert_mock import EnosError, EnosMock, HttpError


def test_create_a_device(enos_mock):
    device = enos_mock.create_device("BiDiProd", "recipe-1")
    assert device.device_key == "recipe-1"


def test_create_it_again_after_the_reset(enos_mock):
    enos_mock.create_device("BiDiProd", "recipe-1")


def test_a_new_device_has_no_certificates_until_it_applies(enos_mock):
    device = enos_mock.create_device("BiDiProd", "recipe-1")
    assert enos_mock.certificates(device) == []
    cert = enos_mock.apply(device, authority="ECC")  # a fresh P-256 key and its CSR
    assert [c["certSN"] for c in enos_mock.certificates(device)] == [cert.cert_sn]


def test_an_expired_certificate_cannot_be_renewed(enos_mock):
    cert = enos_mock.apply("Uvmm5AXU")
    enos_mock.advance_clock(days=731)
    with pytest.raises(EnosError) as refused:
        enos_mock.renew(cert, "Uvmm5AXU")
    assert (refused.value.code, refused.value.message) == (
        99400, "The original certificate has expired and cannot be updated.")


@pytest.mark.enos_mock(auth="strict")
def test_a_strict_gateway_wants_signed_calls(enos_mock):
    # This test's enos_mock runs --auth strict (a mock of its own); the fixture's client
    # signs its calls as the org's app does, a bare client is refused.
    assert enos_mock.certificates("Uvmm5AXU") == []
    with EnosMock(enos_mock.url) as unsigned:
        with pytest.raises(HttpError) as refused:
            unsigned.certificates("Uvmm5AXU")
    assert (refused.value.status, refused.value.message) == (401, "Invalid authentication credentials")


def test_more_mocks_for_one_test(enos_mock_factory):
    keep = enos_mock_factory(renew_policy="keep")  # stopped when the test ends
    old = keep.apply("Uvmm5AXU", authority="ECC")
    keep.renew(old, "Uvmm5AXU")
    assert [c["certStatus"] for c in keep.certificates("Uvmm5AXU")] == [0, 0]  # the old one kept
