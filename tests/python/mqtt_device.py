"""Drives Envision's official device SDK (enos-mqtt-sdk-python 0.1.1, unchanged) against
the mock's MQTT ports, for tests/it/mqtt_sdk.rs.

    python mqtt_device.py CASES.json RESULTS.json

CASES.json is a list of cases, every one run at once in a thread of its own (the SDK's
blocking connect() waits 10 s for a CONNACK 0 that a refused device never gets: refused
cases cost that wait once, not once each). Each has a "name", a "url" ("ssl://host:port" or
"tcp://host:port"), "productKey", "deviceKey", "secret", for TLS "ca" and optionally "cert",
"key" and "ciphers" ("ECC" or "RSA": the SDK's presets), and a "kind":

- "connect" (the default): connects and fast-publishes one measure point.
- "conversation": the calls of the SDK's own samples, on a gateway: sync and async publish,
  attributes, tags, events, OTA, TSL template, raw model data, device registration,
  topology, sub-device login (single, batch, wrong secret), posts for a sub-device, and the
  command handlers of MeasurepointSetCommand and ServiceInvocationCommand, driven through
  the mock's POST /__admin/mqtt/publish ("admin": the mock's URL; "sub": the sub-device).
- "activation": the DynamicActivationLogin sample ("secret" is the product secret), then
  a login with the deviceSecret it was sent.
- "timing": "count" connects in a row, each timed (tests/it/mqtt_sdk.rs runs these in a
  process of their own, as a device program runs: other clients' threads in the same
  interpreter widen the SDK's lost wake-up window, see docs/devices-connecting.md).

RESULTS.json maps each name to what happened (see each function).
"""

import json
import sys
import threading
import time
import urllib.request

from enos.core.MqttClient import MqttClient
from enos.core.internal.Ciphers import Ciphers
from enos.core.internal.DecoderRegistry import DecoderRegistry
from enos.core.internal.Profile import Profile
from enos.core.login.DynamicActivationLogin import DynamicActivationLogin
from enos.core.message.IResponseCallback import IResponseCallback
from enos.core.util.StringI18n import StringI18n
from enos.message.downstream.tsl.MeasurepointSetCommand import MeasurepointSetCommand
from enos.message.downstream.tsl.MeasurepointSetReply import MeasurepointSetReply
from enos.message.downstream.tsl.ServiceInvocationCommand import ServiceInvocationCommand
from enos.message.downstream.tsl.ServiceInvocationReply import ServiceInvocationReply
from enos.message.upstream.ota.OtaGetVersionRequest import OtaGetVersionRequest
from enos.message.upstream.ota.OtaProgressReportRequest import OtaProgressReportRequest
from enos.message.upstream.ota.OtaVersionReportRequest import OtaVersionReportRequest
from enos.message.upstream.register.DeviceRegisterRequest import DeviceRegisterRequest
from enos.message.upstream.resume.MeasurepointResumeBatchRequest import MeasurepointResumeBatchRequest
from enos.message.upstream.resume.MeasurepointResumeRequest import MeasurepointResumeRequest
from enos.message.upstream.status.SubDeviceLoginBatchRequest import SubDeviceLoginBatchRequest
from enos.message.upstream.status.SubDeviceLoginRequest import SubDeviceLoginRequest
from enos.message.upstream.status.SubDeviceLogoutRequest import SubDeviceLogoutRequest
from enos.message.upstream.tag.TagDeleteRequest import TagDeleteRequest
from enos.message.upstream.tag.TagQueryRequest import TagQueryRequest
from enos.message.upstream.tag.TagUpdateRequest import TagUpdateRequest
from enos.message.upstream.topo.SubDeviceInfo import SubDeviceInfo
from enos.message.upstream.topo.TopoAddRequest import TopoAddRequest
from enos.message.upstream.topo.TopoDeleteRequest import TopoDeleteRequest
from enos.message.upstream.topo.TopoGetRequest import TopoGetRequest
from enos.message.upstream.tsl.AttributeDeleteRequest import AttributeDeleteRequest
from enos.message.upstream.tsl.AttributeQueryRequest import AttributeQueryRequest
from enos.message.upstream.tsl.AttributeUpdateRequest import AttributeUpdateRequest
from enos.message.upstream.tsl.EventPostRequest import EventPostRequest
from enos.message.upstream.tsl.MeasurepointPostBatchRequest import MeasurepointPostBatchRequest
from enos.message.upstream.tsl.MeasurepointPostRequest import MeasurepointPostRequest
from enos.message.upstream.tsl.ModelUpRawRequest import ModelUpRawRequest
from enos.message.upstream.tsl.TslTemplateGetRequest import TslTemplateGetRequest

# A reply that never comes fails the run in 10 s instead of the SDK's 30.
OPERATION_TIMEOUT = 10


def client_for(case, secret=None):
    client = MqttClient(case["url"], case["productKey"], case["deviceKey"],
                        secret if secret is not None else case["secret"])
    profile = client.get_profile()
    profile.set_auto_reconnect(False)
    profile.set_operation_timeout(OPERATION_TIMEOUT)
    tls(case, profile)
    return client


def tls(case, profile):
    if case.get("ca"):
        ciphers = getattr(Ciphers, case["ciphers"]) if case.get("ciphers") else None
        profile.set_ssl_context(case["ca"], case.get("cert"), case.get("key"), None, ciphers)


def close(client, result):
    try:
        client.close()
    except Exception as e:
        result["closeError"] = str(e)


def attempt(case, result):
    """{"connected", "published", "error"}"""
    result.update({"connected": False, "published": False, "error": None})
    client = client_for(case)
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
        close(client, result)


def timing(case, result):
    """{"seconds": [connect() per connect], "connack": [seconds until the SDK's on_connect
    callback ran, or null], "connected": [booleans]}"""
    result.update({"seconds": [], "connack": [], "connected": []})
    for _ in range(case["count"]):
        client = client_for(case)
        acked = []
        client.on_connect = lambda: acked.append(time.perf_counter())
        started = time.perf_counter()
        client.connect()
        result["seconds"].append(time.perf_counter() - started)
        result["connected"].append(client.is_connected())
        close(client, result)
        result["connack"].append(acked[0] - started if acked else None)


def admin_publish(admin, body):
    request = urllib.request.Request(admin + "/__admin/mqtt/publish", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def answer(response):
    """A response as the results show it."""
    if response is None:
        return None
    return {"code": response.get_code(), "message": response.get_message(), "data": response.get_data()}


def conversation(case, result):
    """{"<step>": {"code", "message", "data"} or what the step returns}"""
    client = client_for(case)
    sub = case["sub"]
    commands = []

    def set_handler(arrived_message, arg_list):
        # CommandSample.set_measurepoint_command_handler
        commands.append({"kind": "set", "params": arrived_message.get_params(), "args": list(arg_list)})
        return MeasurepointSetReply().builder().set_code(200).set_message('measurepoints set success').build()

    def service_handler(arrived_message, arg_list):
        # ServiceInvocationSample.service_command_handler
        params = arrived_message.get_params()
        commands.append({"kind": "service", "service": arg_list[2], "params": params})
        if arg_list[2] == 'multiply':
            return ServiceInvocationReply.builder() \
                .add_output_data('result', params.get('left') * params.get('right')) \
                .set_code(200) \
                .build()
        return ServiceInvocationReply.builder().set_message('unknown service:').set_code(220).build()

    client.register_arrived_message_handler(MeasurepointSetCommand.get_class(), set_handler)
    client.register_arrived_message_handler(ServiceInvocationCommand.get_class(), service_handler)
    started = time.perf_counter()
    client.connect()
    result["connectSeconds"] = time.perf_counter() - started
    result["connected"] = client.is_connected()
    try:
        run_conversation(case, client, sub, result)
        # The commands, as a back end sends them, round-tripping through the handlers.
        result["set"] = admin_publish(case["admin"], {
            "productKey": case["productKey"], "deviceKey": case["deviceKey"],
            "topic": "/sys/{}/{}/thing/service/measurepoint/set".format(case["productKey"], case["deviceKey"]),
            "payload": {"id": "cmd-1", "version": "1.0", "method": "thing.service.measurepoint.set",
                        "params": {"temperature": 30}},
            "replyTimeoutMs": 10000})
        result["multiply"] = admin_publish(case["admin"], {
            "productKey": case["productKey"], "deviceKey": case["deviceKey"],
            "topic": "/sys/{}/{}/thing/service/multiply".format(case["productKey"], case["deviceKey"]),
            "payload": {"id": "cmd-2", "version": "1.0", "method": "thing.service.multiply",
                        "params": {"left": 6, "right": 7}},
            "replyTimeoutMs": 10000})
        result["commands"] = commands
    except Exception as e:
        result["error"] = "{}: {}".format(type(e).__name__, e)
    finally:
        close(client, result)


def run_conversation(case, client, sub, result):
    pk, dk = case["productKey"], case["deviceKey"]
    publish = client.publish

    # SimpleSendReceive: a measure point, sync and async.
    result["post"] = answer(publish(MeasurepointPostRequest.builder()
                                    .add_measurepoint('mpoint', 150)
                                    .set_timestamp(int(time.time() * 1000)).build()))
    done = threading.Event()

    def on_response(response):
        result["postAsync"] = answer(response)
        done.set()

    def on_failure(exception):
        result["postAsync"] = {"failure": str(exception)}
        done.set()

    callback = IResponseCallback()
    callback.on_response = on_response
    callback.on_failure = on_failure
    publish(MeasurepointPostRequest.builder().add_measurepoint('mpoint', 151).build(), callback)
    done.wait(OPERATION_TIMEOUT)

    # AttributeSample, TagSample, EventSample.
    result["attributeUpdate"] = answer(publish(AttributeUpdateRequest.builder()
                                               .add_attribute("wywpoint3", 6)
                                               .add_attributes({'attribute1': 4, 'attribute2': 5}).build()))
    result["attributeQuery"] = answer(publish(AttributeQueryRequest.builder()
                                              .add_attributes({'attribute1', 'wywpoint3'}).build()))
    result["attributeDelete"] = answer(publish(AttributeDeleteRequest.builder()
                                               .delete_attribute("wywpoint3").build()))
    result["attributeQueryAll"] = answer(publish(AttributeQueryRequest.builder().query_all().build()))
    result["tagUpdate"] = answer(publish(TagUpdateRequest.builder().add_tag("tag1", "22")
                                         .add_tags({'tag2': "40"}).build()))
    result["tagDelete"] = answer(publish(TagDeleteRequest.builder().delete_tag_key("tag2").build()))
    result["tagQuery"] = answer(publish(TagQueryRequest.builder().query_all().build()))
    result["event"] = answer(publish(EventPostRequest.builder().set_event_identifier('Error')
                                     .add_value("power", 124).add_values({'time': 2, 'weather': 6.0}).build()))

    # OtaSample, TslTemplateSample, ModelUpRawSample, MeasurepointResumeSample, DeviceRegisterSample.
    result["otaVersion"] = answer(publish(OtaVersionReportRequest.builder().set_version("1.0").build()))
    result["otaProgress"] = answer(publish(OtaProgressReportRequest.builder().set_step("35")
                                           .set_desc("downloading firmware finished").build()))
    result["otaGetVersion"] = answer(publish(OtaGetVersionRequest.builder()
                                             .set_product_key(pk).set_device_key(dk).build()))
    result["tslTemplate"] = answer(publish(TslTemplateGetRequest.builder().build()))
    raw = publish(ModelUpRawRequest.builder()
                  .set_payload(bytes([0x01, 0x00, 0x00, 0x00, 0x14, 0x01, 0x00, 0x04])).build())
    result["upRaw"] = {"payload": raw.get_payload().decode()} if raw else None
    result["resume"] = answer(publish(MeasurepointResumeRequest.builder()
                                      .add_measure_point('mpoint', 1).set_timestamp(1573061486173).build()))
    name = StringI18n("registered by the gateway")
    result["register"] = answer(publish(DeviceRegisterRequest.builder()
                                        .add_register_information(sub["productKey"], 'registered-1', name,
                                                                  "dev desc", '+08:00', {'location': 'lab'})
                                        .build()))

    # TopoSample and SubDeviceSample: the sub-device signed with its own secret.
    result["topoAdd"] = answer(publish(TopoAddRequest.builder().add_sub_device(
        SubDeviceInfo(sub["productKey"], sub["deviceKey"], sub["secret"])).build()))
    result["topoGet"] = answer(publish(TopoGetRequest.builder().build()))
    result["subLoginWrongSecret"] = answer(publish(SubDeviceLoginRequest.builder().set_sub_device_info(
        sub["productKey"], sub["deviceKey"], "not-the-secret").build()))
    result["subLogin"] = answer(publish(SubDeviceLoginRequest.builder().set_sub_device_info(
        sub["productKey"], sub["deviceKey"], sub["secret"]).build()))
    for_sub = MeasurepointPostRequest.builder().add_measurepoint('temperature', 21.5) \
        .set_product_key(sub["productKey"]).set_device_key(sub["deviceKey"]) \
        .set_timestamp(int(time.time() * 1000))
    result["subPost"] = answer(publish(for_sub.build()))
    result["subPostUnknownPoint"] = answer(publish(
        MeasurepointPostRequest.builder().add_measurepoint('rpm', 1)
        .set_product_key(sub["productKey"]).set_device_key(sub["deviceKey"]).build()))
    batch = MeasurepointPostBatchRequest.builder().set_requests([
        MeasurepointPostRequest.builder().add_measurepoint('mpoint', 1).build(),
        MeasurepointPostRequest.builder().add_measurepoint('humidity', 40)
        .set_product_key(sub["productKey"]).set_device_key(sub["deviceKey"]).build()]).build()
    result["postBatch"] = answer(publish(batch))
    resume_batch = MeasurepointResumeBatchRequest.builder().add_request(
        MeasurepointResumeRequest.builder().add_measure_point('humidity', 41)
        .set_product_key(sub["productKey"]).set_device_key(sub["deviceKey"])
        .set_timestamp(1573061486173).build()).build()
    result["resumeBatch"] = answer(publish(resume_batch))
    result["topoDeleteOnline"] = answer(publish(TopoDeleteRequest.builder()
                                                .delete_sub_device(sub["productKey"], sub["deviceKey"]).build()))
    result["subLogout"] = answer(publish(SubDeviceLogoutRequest.builder()
                                         .set_sub_product_key(sub["productKey"])
                                         .set_sub_device_key(sub["deviceKey"]).build()))
    result["subPostLoggedOut"] = answer(publish(for_sub.build()))
    result["subLoginBatch"] = answer(publish(SubDeviceLoginBatchRequest.builder().add_sub_device_info(
        sub["productKey"], sub["deviceKey"], sub["secret"]).build()))
    publish(SubDeviceLogoutRequest.builder().set_sub_product_key(sub["productKey"])
            .set_sub_device_key(sub["deviceKey"]).build())
    result["topoDelete"] = answer(publish(TopoDeleteRequest.builder()
                                          .delete_sub_device(sub["productKey"], sub["deviceKey"]).build()))
    result["topoGetAfter"] = answer(publish(TopoGetRequest.builder().build()))


def activation(case, result):
    """{"deviceSecret": what the mock pushed, "activatedConnected", "secondConnected"}"""
    received = threading.Event()
    result["deviceSecret"] = None

    def on_activated(device_secret):
        # ConnectionSample.on_device_dynamic_activation
        result["deviceSecret"] = device_secret
        received.set()

    login = DynamicActivationLogin(case["url"], case["productKey"], case["secret"], case["deviceKey"])
    profile = Profile.create_instance(login)
    profile.set_auto_reconnect(False)
    tls(case, profile)
    client = MqttClient(profile=profile)
    client.on_device_dynamic_active = on_activated
    started = time.perf_counter()
    client.connect()
    result["connectSeconds"] = time.perf_counter() - started
    result["activatedConnected"] = client.is_connected()
    received.wait(OPERATION_TIMEOUT)
    # Let the SDK's activate/info_reply go out before closing.
    time.sleep(0.2)
    close(client, result)
    if result["deviceSecret"]:
        second = client_for(case, result["deviceSecret"])
        second.connect()
        result["secondConnected"] = second.is_connected()
        close(second, result)


KINDS = {"connect": attempt, "timing": timing, "conversation": conversation, "activation": activation}


def run(case, results):
    result = {}
    results[case["name"]] = result
    try:
        KINDS[case.get("kind", "connect")](case, result)
    except Exception as e:
        result["error"] = "{}: {}".format(type(e).__name__, e)


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    # The SDK fills its class-wide decoder list on the first message any client receives,
    # without a lock: a client whose first message comes while another's thread is filling
    # it sees a partial list and drops the message ("decode received message failed").
    # One client per process, as a device program runs, never meets that; filled here, the
    # clients of this process don't either.
    DecoderRegistry.get_decoder_list()
    results = {}
    threads = [threading.Thread(target=run, args=(case, results)) for case in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    with open(sys.argv[2], "w") as f:
        json.dump(results, f, indent=1, default=str)


if __name__ == "__main__":
    main()
