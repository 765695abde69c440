"""Drives Envision's official device SDK (enos-mqtt-sdk-python 0.1.1, unchanged) against
the mock's MQTT ports, for tests/it/mqtt_sdk.rs.

    python mqtt_device.py CASES.json RESULTS.json

CASES.json is a list of {"name", "url" ("ssl://host:port" or "tcp://host:port"),
"productKey", "deviceKey", "secret", and for TLS "ca", "cert", "key", optional "ciphers"
("ECC" or "RSA": the SDK's presets)}. Every case connects at once, each in its own thread,
with the SDK's blocking connect(), which waits up to 10 s for CONNACK 0: refused cases
cost that wait once, not once each. A case that gets in fast-publishes one measure point.
RESULTS.json maps each name to {"connected", "published", "error"}.
"""

import json
import sys
import threading

from enos.core.MqttClient import MqttClient
from enos.core.internal.Ciphers import Ciphers
from enos.message.upstream.tsl.MeasurepointPostRequest import MeasurepointPostRequest


def attempt(case, results):
    result = {"connected": False, "published": False, "error": None}
    results[case["name"]] = result
    client = MqttClient(case["url"], case["productKey"], case["deviceKey"], case["secret"])
    profile = client.get_profile()
    profile.set_auto_reconnect(False)
    if case.get("cert"):
        ciphers = getattr(Ciphers, case["ciphers"]) if case.get("ciphers") else None
        profile.set_ssl_context(case["ca"], case["cert"], case["key"], None, ciphers)
    try:
        client.connect()
        result["connected"] = client.is_connected()
        if result["connected"]:
            request = MeasurepointPostRequest.builder() \
                .add_measurepoint("temperature", 21.5) \
                .build()
            client.fast_publish(request)
            result["published"] = True
    except Exception as e:  # the SDK raises EnvisionException on a failed handshake
        result["error"] = "{}: {}".format(type(e).__name__, e)
    finally:
        try:
            client.close()
        except Exception as e:
            result["closeError"] = str(e)


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    results = {}
    threads = [threading.Thread(target=attempt, args=(case, results)) for case in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with open(sys.argv[2], "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
