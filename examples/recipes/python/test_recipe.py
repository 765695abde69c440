"""Two tests that create the same device: each passes only because the fixture
resets the mock in between (the second create would otherwise get 11702)."""

import json
import urllib.request

ORG = "o15444172373271"


def call(url, body=None):
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"apim-accesstoken": "test", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def create_device(base):
    return call(
        f"{base}/connect-service/v2.1/devices?action=create&orgId={ORG}",
        {"productKey": "BiDiProd", "deviceName": "Recipe", "timezone": "+08:00",
         "deviceKey": "recipe-1"},
    )


def test_create_a_device(enos_mock):
    answer = create_device(enos_mock)
    assert answer["code"] == 0, answer
    assert answer["data"]["deviceKey"] == "recipe-1"


def test_create_it_again_after_the_reset(enos_mock):
    answer = create_device(enos_mock)
    assert answer["code"] == 0, answer


def test_a_new_device_has_no_certificates(enos_mock):
    asset_id = create_device(enos_mock)["data"]["assetId"]
    answer = call(f"{enos_mock}/connect-service/v2.0/certificates"
                  f"?action=list&orgId={ORG}&assetId={asset_id}")
    assert answer == {**answer, "code": 0, "data": []}
