"""A typed client of one running enos-cert-mock: its control plane (``/__admin``), the EnOS
calls a test needs to arrange state (products, devices, certificates), and the device side
(the EnOS MQTT login, commands to a connected device).

HTTP is ``httpx`` (one keep-alive connection pool per client); keys, CSRs, certificates and
CRLs are ``cryptography`` objects. Every refusal raises an exception that carries what the
mock said (:class:`~enos_cert_mock.errors.EnosError` for EnOS codes,
:class:`~enos_cert_mock.errors.HttpError` for everything else).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
)

import httpx
from cryptography import x509

from .certs import Authority, Certificate, PrivateKey, authority_of, make_csr, new_key
from .errors import EnosError, HttpError, MockError

if TYPE_CHECKING:
    from .process import MockProcess

__all__ = [
    "EnosMock",
    "Clock",
    "ErrorRow",
    "Fault",
    "JournalEntry",
    "App",
    "Org",
    "Device",
    "Session",
    "MqttLogin",
    "Reply",
    "CommandResult",
    "SignMethod",
    "DeviceRef",
    "signature",
    "mqtt_login",
]

CERTIFICATES = "/connect-service/v2.0/certificates"
PRODUCTS = "/connect-service/v2.1/products"
DEVICES = "/connect-service/v2.1/devices"
TOKEN = "/apim-token-service/v2.0/token/get"

#: How the EnOS MQTT password is hashed (spec C2): ``sha256`` (the docs, upper-case hex),
#: ``hmacsha1`` (the SDKs' default: upper-case hex SHA-1), ``hmacsha256`` (what the Python SDK
#: sends: lower-case hex SHA-256), ``hmacmd5``. Each hashes content + secret, no HMAC key.
SignMethod = Literal["sha256", "sha1", "md5", "hmacsha256", "hmacsha1", "hmacmd5"]

_HASHES = {
    "sha256": ("sha256", True),
    "sha1": ("sha1", True),
    "md5": ("md5", True),
    "hmacsha256": ("sha256", False),
    "hmacsha1": ("sha1", True),
    "hmacmd5": ("md5", True),
}


def _time(text: str) -> datetime:
    """An RFC 3339 time as the mock writes it (``...Z``)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Clock:
    """The mock clock (``GET /__admin/clock``)."""

    now: datetime
    offset_seconds: int


@dataclass(frozen=True)
class ErrorRow:
    """One row of the error catalogue (``GET /__admin/errors``)."""

    key: str
    code: int
    msg: str
    """The message template, ``{name}`` placeholders unfilled."""
    actions: tuple[str, ...]

    def message(self, **values: str) -> str:
        """The template with its ``{name}`` placeholders replaced by ``values``."""
        text = self.msg
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return text


@dataclass(frozen=True)
class Fault:
    """A registered fault (``POST /__admin/faults``): its id, what it hits, hits left."""

    id: str
    action: str
    times: int | None
    hits: int
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class JournalEntry:
    """One journaled call or device event (``GET /__admin/requests``).

    The fields every entry has are attributes; the rest (``direction``, ``topic``,
    ``payload`` of MQTT messages, a refusal's ``reason``...) are read with ``entry["name"]``.
    """

    time: datetime
    transport: str
    action: str | None
    method: str | None
    path: str | None
    query: str | None
    status: int | None
    code: int | None
    latency_ms: float | None
    raw: Mapping[str, Any] = field(repr=False)

    def __getitem__(self, name: str) -> Any:
        return self.raw[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.raw.get(name, default)


@dataclass(frozen=True)
class App:
    app_key: str
    app_secret: str


@dataclass(frozen=True)
class Org:
    org_id: str
    apps: tuple[App, ...]


@dataclass(frozen=True)
class Device:
    """A device, with the secret its MQTT login is signed with."""

    asset_id: str
    product_key: str
    device_key: str
    secret: str
    org_id: str


#: How calls name a device: an assetId, or a :class:`Device`.
DeviceRef = str | Device


@dataclass(frozen=True)
class Session:
    """A live MQTT session of a device (``GET /__admin/connections``)."""

    id: int
    product_key: str
    device_key: str
    asset_id: str
    client_id: str
    cert_sn: str | None
    authority: str | None
    since: datetime
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class MqttLogin:
    """What an EnOS device sends in CONNECT (spec C2)."""

    client_id: str
    username: str
    password: str


@dataclass(frozen=True)
class Reply:
    """A device's reply to a command: the ``{topic}_reply`` topic and its payload (parsed JSON,
    or the text when it is not JSON)."""

    topic: str
    payload: Any


@dataclass(frozen=True)
class CommandResult:
    """What ``POST /__admin/mqtt/publish`` answered: how many live sessions got the command,
    and the device's reply (``None`` when none was awaited or none came in time)."""

    sessions: int
    reply: Reply | None


def signature(
    access_token: str,
    params: Mapping[str, str],
    body: str,
    timestamp: str,
    app_secret: str,
) -> str:
    """The gateway's ``apim-signature`` (spec A9.2): SHA-256 of the token, every query parameter
    (sorted by name, name then value), the raw body, the timestamp and the app secret."""
    signed = "".join(f"{k}{v}" for k, v in sorted(params.items()))
    text = f"{access_token}{signed}{body}{timestamp}{app_secret}"
    return hashlib.sha256(text.encode()).hexdigest()


def mqtt_login(
    product_key: str,
    device_key: str,
    secret: str,
    *,
    client_id: str | None = None,
    sign_method: SignMethod = "sha256",
    timestamp: str | None = None,
    secure_mode: int = 2,
) -> MqttLogin:
    """The EnOS MQTT login of a device (spec C2): client id
    ``{clientId}|securemode=2,signmethod={m},timestamp={ts}|``, user name
    ``{deviceKey}&{productKey}``, password the hex hash of
    ``clientId..deviceKey..productKey..timestamp..`` followed by the secret.

    ``client_id`` defaults to the device key (as the SDKs do), ``timestamp`` to now in epoch ms.
    """
    if sign_method not in _HASHES:
        raise ValueError(f"sign_method must be one of {sorted(_HASHES)}, not {sign_method!r}")
    cid = client_id if client_id is not None else device_key
    ts = timestamp if timestamp is not None else str(int(time.time() * 1000))
    content = f"clientId{cid}deviceKey{device_key}productKey{product_key}timestamp{ts}"
    algorithm, upper = _HASHES[sign_method]
    digest = hashlib.new(algorithm, (content + secret).encode()).hexdigest()
    return MqttLogin(
        client_id=f"{cid}|securemode={secure_mode},signmethod={sign_method},timestamp={ts}|",
        username=f"{device_key}&{product_key}",
        password=digest.upper() if upper else digest,
    )


def _message_of(response: httpx.Response) -> tuple[str, Any]:
    """The ``message`` of a non-envelope answer (or its text), and the parsed body."""
    try:
        body = response.json()
    except ValueError:
        return response.text or response.reason_phrase, response.text
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"], body
    return response.text, body


class EnosMock:
    """A client of one running mock at ``url``.

    Made by :func:`enos_cert_mock.start` (then :attr:`process` is the mock's process and
    :meth:`stop` ends it) or directly for a mock running elsewhere (docker compose, a shared
    dev mock). ``admin_token`` is sent as ``Authorization: Bearer`` on control calls (for a
    mock started with ``--admin-token``). EnOS calls carry ``apim-accesstoken:
    {access_token}``, which the default ``lenient`` gateway accepts; with ``sign=True`` they
    are signed as an app of the org would sign them (a token from the token service, the
    timestamp on the mock clock), which ``--auth strict`` requires.
    """

    def __init__(
        self,
        url: str,
        *,
        admin_token: str | None = None,
        access_token: str = "enos-cert-mock-python",
        sign: bool = False,
        org_id: str | None = None,
        app_key: str | None = None,
        app_secret: str | None = None,
        timeout: float = 30.0,
        process: MockProcess | None = None,
    ) -> None:
        self.url: str = url.rstrip("/")
        self.process: MockProcess | None = process
        self.sign = sign
        self._admin_headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self._access_token = access_token
        self._org_id = org_id
        self._app = App(app_key, app_secret) if app_key and app_secret else None
        # A mock on this machine is reached directly, whatever HTTP(S)_PROXY the shell has.
        local = httpx.URL(self.url).host in {"127.0.0.1", "localhost", "::1"}
        self._http = httpx.Client(base_url=self.url, timeout=timeout, trust_env=not local)
        self._health: dict[str, Any] | None = None
        self._token: str | None = None
        self._offset_ms: int | None = None

    # ----------------------------------------------------------------- life

    def close(self) -> None:
        """Closes this client's connections (the mock keeps running)."""
        self._http.close()

    def stop(self) -> None:
        """Closes the client and, when this client started the mock, stops its process."""
        self.close()
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> EnosMock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        pid = f" pid={self.process.pid}" if self.process is not None else ""
        return f"<EnosMock {self.url}{pid}>"

    # ----------------------------------------------------------------- HTTP

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return self._http.request(
                method,
                path,
                params=params,
                json=json_body,
                content=content,
                headers=headers,
            )
        except httpx.TransportError as e:
            detail = ""
            if self.process is not None:
                detail = "\n" + self.process.describe()
            raise MockError(f"{method} {self.url}{path}: the mock did not answer ({e!r}){detail}") from e

    def _admin(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        response = self._send(
            method, f"/__admin{path}", params=params, json_body=body, headers=self._admin_headers
        )
        if response.status_code >= 400:
            message, parsed = _message_of(response)
            raise HttpError(method, str(response.url), response.status_code, message, parsed)
        if not response.content:
            return None
        return response.json()

    def call(
        self,
        method: str,
        path: str,
        action: str,
        *,
        query: Mapping[str, str | None] | None = None,
        body: Any = None,
        org_id: str | None = None,
    ) -> Any:
        """One EnOS call (``{path}?action={action}&orgId=...``): its ``data``, or
        :class:`EnosError` / :class:`HttpError`. ``body`` is sent as JSON."""
        params: dict[str, str] = {"action": action, "orgId": org_id or self.org_id}
        params.update({k: v for k, v in (query or {}).items() if v is not None})
        content = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            headers = self._gateway_headers(params, content)
            if content is not None:
                headers["Content-Type"] = "application/json;charset=UTF-8"
            response = self._send(method, path, params=params, content=content, headers=headers)
            if response.status_code == 401 and self.sign and attempt == 1:
                # A reset elsewhere dropped the token, or the clock moved: fetch both again.
                self._token = None
                self._offset_ms = None
                continue
            return self._data(method, response)
        raise AssertionError("unreachable")

    def _data(self, method: str, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("code"), int) and "msg" in body:
            if body["code"] != 0:
                raise EnosError(
                    body["code"],
                    str(body["msg"]),
                    request_id=body.get("requestId"),
                    http_status=response.status_code,
                    body=body,
                )
            if response.status_code == 200:
                return body.get("data")
        message, parsed = _message_of(response)
        raise HttpError(method, str(response.url), response.status_code, message, parsed)

    # ------------------------------------------------------------ gateway

    def _gateway_headers(self, params: Mapping[str, str], content: bytes | None) -> dict[str, str]:
        if not self.sign:
            return {"apim-accesstoken": self._access_token}
        app = self._signing_app()
        token = self._fetch_token(app)
        timestamp = str(self._mock_now_ms())
        body = content.decode() if content is not None else ""
        return {
            "apim-accesstoken": token,
            "apim-timestamp": timestamp,
            "apim-signature": signature(token, params, body, timestamp, app.app_secret),
        }

    def _signing_app(self) -> App:
        if self._app is None:
            org = next((o for o in self.orgs() if o.org_id == self.org_id), None)
            if org is None or not org.apps:
                raise MockError(
                    f"org {self.org_id} has no app to sign calls as (give app_key and app_secret)"
                )
            self._app = org.apps[0]
        return self._app

    def _mock_now_ms(self) -> int:
        if self._offset_ms is None:
            self._offset_ms = self.clock().offset_seconds * 1000
        return int(time.time() * 1000) + self._offset_ms

    def _fetch_token(self, app: App) -> str:
        if self._token is None:
            timestamp = str(self._mock_now_ms())
            encryption = hashlib.sha256(f"{app.app_key}{timestamp}{app.app_secret}".encode()).hexdigest()
            response = self._send(
                "POST",
                TOKEN,
                json_body={"appKey": app.app_key, "encryption": encryption, "timestamp": timestamp},
            )
            answer = response.json()
            if answer.get("status") != 0:
                raise EnosError(int(answer.get("status", -1)), str(answer.get("msg")), body=answer)
            self._token = str(answer["data"]["accessToken"])
        return self._token

    # -------------------------------------------------------- health, ports

    def health(self) -> dict[str, Any]:
        """``GET /__admin/health``: version, fixtures, roots, clock, counts, MQTT ports."""
        health: dict[str, Any] = self._admin("GET", "/health")
        self._health = health
        return health

    def _cached_health(self) -> dict[str, Any]:
        return self._health if self._health is not None else self.health()

    def _mqtt(self, key: str, flag: str) -> int:
        port = (self._cached_health().get("mqtt") or {}).get(key)
        if port is None:
            raise MockError(f"this mock has no {flag} listener ({flag} off)")
        return int(port)

    @property
    def mqtt_tls_port(self) -> int:
        """The MQTT-over-TLS port (mutual TLS for bi-directional products)."""
        return self._mqtt("tlsPort", "--mqtt-tls-port")

    @property
    def mqtt_port(self) -> int:
        """The plain MQTT port (secret login only)."""
        return self._mqtt("port", "--mqtt-port")

    @property
    def host(self) -> str:
        """The host the mock listens on (for MQTT clients)."""
        return httpx.URL(self.url).host

    @property
    def org_id(self) -> str:
        """The org EnOS calls go to unless told otherwise: the one given, else the first
        org of the fixtures."""
        if self._org_id is None:
            orgs = self._cached_health()["fixtures"]["orgs"]
            if not orgs:
                raise MockError("the fixtures declare no org: give org_id")
            self._org_id = str(orgs[0]["orgId"])
        return self._org_id

    # --------------------------------------------------------------- roots

    def root_pem(self, authority: Authority = "RSA") -> str:
        """The root that signs ``authority``'s certificates, PEM (``/enos/CA/cacert/{RSA|ECC}``)."""
        response = self._send("GET", f"/enos/CA/cacert/{authority}")
        if response.status_code != 200:
            message, parsed = _message_of(response)
            raise HttpError("GET", str(response.url), response.status_code, message, parsed)
        return response.text

    def root(self, authority: Authority = "RSA") -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.root_pem(authority).encode())

    def roots_pem(self) -> str:
        """Both roots, PEM, RSA first: a CA file that verifies every certificate the mock issues
        and its MQTT broker certificate."""
        return self.root_pem("RSA") + self.root_pem("ECC")

    def crl(self, authority: Authority = "RSA") -> x509.CertificateRevocationList:
        """The authority's current CRL (``/enos/CA/crl/{RSA|ECC}``)."""
        response = self._send("GET", f"/enos/CA/crl/{authority}")
        if response.status_code != 200:
            message, parsed = _message_of(response)
            raise HttpError("GET", str(response.url), response.status_code, message, parsed)
        return x509.load_der_x509_crl(response.content)

    # --------------------------------------------------------------- clock

    def _clock(self, answer: Mapping[str, Any]) -> Clock:
        clock = Clock(now=_time(answer["now"]), offset_seconds=int(answer["offsetSeconds"]))
        self._offset_ms = clock.offset_seconds * 1000
        return clock

    def clock(self) -> Clock:
        return self._clock(self._admin("GET", "/clock"))

    def advance_clock(self, days: int = 0, seconds: int = 0) -> Clock:
        """Moves the mock clock by ``days`` and ``seconds`` (negative moves it back)."""
        return self._clock(
            self._admin("POST", "/clock", body={"advanceSeconds": int(days) * 86400 + int(seconds)})
        )

    def set_clock(self, when: datetime | str) -> Clock:
        """Sets the mock clock to ``when`` (an aware datetime, or RFC 3339 text)."""
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise ValueError("set_clock needs an aware datetime (e.g. tzinfo=timezone.utc)")
            when = when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        return self._clock(self._admin("POST", "/clock", body={"set": when}))

    def reset_clock(self) -> Clock:
        """Back to the real time."""
        return self._clock(self._admin("POST", "/clock", body={"reset": True}))

    # --------------------------------------------------------- reset, reload

    def reset(self) -> None:
        """``POST /__admin/reset``: back to the fixtures; clock, faults, journal and tokens reset."""
        self._admin("POST", "/reset")
        self._token = None
        self._offset_ms = 0

    def reload(self) -> None:
        """Re-reads the fixtures file and resets to it."""
        self._admin("POST", "/reload")
        self._token = None
        self._offset_ms = 0
        self._health = None

    # -------------------------------------------------------------- faults

    def errors(self) -> list[ErrorRow]:
        """The error catalogue: every EnOS answer the mock can give."""
        return [
            ErrorRow(key=r["key"], code=int(r["code"]), msg=r["msg"], actions=tuple(r["actions"]))
            for r in self._admin("GET", "/errors")
        ]

    def fault(
        self,
        action: str = "*",
        *,
        error: str | None = None,
        http_status: int | None = None,
        delay_ms: int | None = None,
        times: int | None = None,
        device: DeviceRef | None = None,
        product_key: str | None = None,
        device_key: str | None = None,
        connack: int | None = None,
        drop: bool | None = None,
        method: str | None = None,
        code: int | None = None,
    ) -> Fault:
        """Registers a fault: the next ``times`` calls of ``action`` (every one until cleared
        without ``times``) fail that way.

        * EnOS actions (``apply``, ``renew``, ``revoke``, ``list``, ``product.create`` ...,
          ``device.get`` ..., ``*``): ``error`` (a catalogue key, see :meth:`errors`),
          ``http_status``, ``delay_ms``.
        * ``mqtt.connect``: ``connack`` (1-5), ``drop=True`` or ``delay_ms``.
        * ``mqtt.reply`` (the device conversation): ``method``, ``code``, ``delay_ms``.

        ``device`` (or ``product_key`` + ``device_key``) limits it to one device.
        """
        body: dict[str, Any] = {"action": action}
        optional: dict[str, Any] = {
            "error": error,
            "httpStatus": http_status,
            "delayMs": delay_ms,
            "times": times,
            "connack": connack,
            "drop": drop,
            "method": method,
            "code": code,
            "productKey": product_key,
            "deviceKey": device_key,
        }
        if isinstance(device, Device):
            optional["assetId"] = device.asset_id
        elif device is not None:
            optional["assetId"] = device
        body.update({k: v for k, v in optional.items() if v is not None})
        return self._fault(self._admin("POST", "/faults", body=body))

    @staticmethod
    def _fault(raw: Mapping[str, Any]) -> Fault:
        return Fault(
            id=str(raw["id"]),
            action=str(raw["action"]),
            times=raw.get("times"),
            hits=int(raw.get("hits", 0)),
            raw=raw,
        )

    def faults(self) -> list[Fault]:
        return [self._fault(f) for f in self._admin("GET", "/faults")]

    def clear_faults(self) -> None:
        self._admin("DELETE", "/faults")

    # ------------------------------------------------------------- journal

    def requests(
        self,
        action: str | None = None,
        *,
        code: int | None = None,
        limit: int | None = None,
        transport: str | None = None,
        status: int | None = None,
    ) -> list[JournalEntry]:
        """The request journal, oldest first. ``action``, ``code`` and ``limit`` (the newest N)
        are the mock's own filters; ``transport`` (``http``, ``mqtt``) and ``status`` (HTTP)
        are applied here, after ``limit``."""
        params = {
            k: str(v) for k, v in {"action": action, "code": code, "limit": limit}.items() if v is not None
        }
        entries = [self._entry(e) for e in self._admin("GET", "/requests", params=params)]
        return [
            e
            for e in entries
            if (transport is None or e.transport == transport) and (status is None or e.status == status)
        ]

    @staticmethod
    def _entry(raw: Mapping[str, Any]) -> JournalEntry:
        latency = raw.get("latencyMs")
        return JournalEntry(
            time=_time(raw["time"]),
            transport=str(raw.get("transport", "http")),
            action=raw.get("action"),
            method=raw.get("method"),
            path=raw.get("path"),
            query=raw.get("query"),
            status=raw.get("status"),
            code=raw.get("code"),
            latency_ms=float(latency) if latency is not None else None,
            raw=raw,
        )

    def clear_requests(self) -> None:
        self._admin("DELETE", "/requests")

    # ---------------------------------------------------------------- orgs

    def orgs(self) -> list[Org]:
        return [
            Org(
                org_id=o["orgId"],
                apps=tuple(App(a["appKey"], a["appSecret"]) for a in o.get("apps", [])),
            )
            for o in self._admin("GET", "/orgs")
        ]

    def declare_org(self, org_id: str, apps: Mapping[str, str] | Sequence[App] = ()) -> Org:
        """Declares an org (replacing one of the same id) with apps (``{appKey: appSecret}``)."""
        pairs = (
            [(a.app_key, a.app_secret) for a in apps] if not isinstance(apps, Mapping) else list(apps.items())
        )
        self._admin(
            "POST",
            "/orgs",
            body={"orgId": org_id, "apps": [{"appKey": k, "appSecret": s} for k, s in pairs]},
        )
        return Org(org_id=org_id, apps=tuple(App(k, s) for k, s in pairs))

    # ------------------------------------------------- products and devices

    def create_product(
        self,
        name: str = "Mock product",
        *,
        bi_directional: bool = True,
        product_type: Literal["Device", "Gateway"] = "Device",
        data_format: Literal["Json", "Custom"] = "Json",
        model_id: str = "mock_model",
        default_valid_day: int | None = None,
        max_valid_day: int | None = None,
        dynamic_activate: bool | None = None,
        description: str | None = None,
        org_id: str | None = None,
    ) -> str:
        """Creates a product; its productKey."""
        body: dict[str, Any] = {
            "productName": {"defaultValue": name, "i18nValue": {}},
            "productType": product_type,
            "dataFormat": data_format,
            "modelId": model_id,
            "biDirectionalAuth": bi_directional,
        }
        optional = {
            "defaultValidDay": default_valid_day,
            "maxValidDay": max_valid_day,
            "dynamicActivateEnabled": dynamic_activate,
            "productDesc": description,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return str(self.call("POST", PRODUCTS, "create", body=body, org_id=org_id))

    def get_product(self, product_key: str, *, org_id: str | None = None) -> dict[str, Any]:
        product: dict[str, Any] = self.call(
            "GET", PRODUCTS, "get", query={"productKey": product_key}, org_id=org_id
        )
        return product

    def update_product(
        self, product_key: str, changes: Mapping[str, Any], *, org_id: str | None = None
    ) -> None:
        """Changes the fields given (EnOS names: ``{"biDirectionalAuth": False}``)."""
        self.call(
            "POST", PRODUCTS, "update", query={"productKey": product_key}, body=dict(changes), org_id=org_id
        )

    def delete_product(self, product_key: str, *, org_id: str | None = None) -> None:
        self.call("POST", PRODUCTS, "delete", query={"productKey": product_key}, org_id=org_id)

    def create_device(
        self,
        product_key: str,
        device_key: str | None = None,
        *,
        name: str | None = None,
        timezone: str = "+08:00",
        org_id: str | None = None,
    ) -> Device:
        """Creates a device of the product (a generated deviceKey when none is given)."""
        body: dict[str, Any] = {
            "productKey": product_key,
            "deviceName": {"defaultValue": name or device_key or "Mock device", "i18nValue": {}},
            "timezone": timezone,
        }
        if device_key is not None:
            body["deviceKey"] = device_key
        data = self.call("POST", DEVICES, "create", body=body, org_id=org_id)
        return Device(
            asset_id=data["assetId"],
            product_key=data["productKey"],
            device_key=data["deviceKey"],
            secret=data["deviceSecret"],
            org_id=org_id or self.org_id,
        )

    def _device_query(
        self, device: DeviceRef | None, product_key: str | None, device_key: str | None
    ) -> dict[str, str | None]:
        if isinstance(device, Device):
            return {"assetId": device.asset_id}
        if device is not None:
            return {"assetId": device}
        if product_key is None or device_key is None:
            raise ValueError("name the device: an assetId or Device, or product_key and device_key")
        return {"productKey": product_key, "deviceKey": device_key}

    @staticmethod
    def _org(device: DeviceRef | None, org_id: str | None) -> str | None:
        return org_id or (device.org_id if isinstance(device, Device) else None)

    def _device_call(
        self,
        method: str,
        path: str,
        action: str,
        device: DeviceRef | None,
        product_key: str | None,
        device_key: str | None,
        org_id: str | None,
        body: Any = None,
    ) -> Any:
        """An EnOS call about one device, named whichever way the caller named it."""
        return self.call(
            method,
            path,
            action,
            query=self._device_query(device, product_key, device_key),
            body=body,
            org_id=self._org(device, org_id),
        )

    def get_device(
        self,
        device: DeviceRef | None = None,
        *,
        product_key: str | None = None,
        device_key: str | None = None,
        org_id: str | None = None,
    ) -> dict[str, Any]:
        """The device as EnOS answers ``action=get`` (camelCase keys)."""
        answer: dict[str, Any] = self._device_call(
            "GET", DEVICES, "get", device, product_key, device_key, org_id
        )
        return answer

    def device(
        self,
        device: DeviceRef | None = None,
        *,
        product_key: str | None = None,
        device_key: str | None = None,
        org_id: str | None = None,
    ) -> Device:
        """A device with its secret: ``device("Uvmm5AXU")``, or by product and device key."""
        data = self.get_device(device, product_key=product_key, device_key=device_key, org_id=org_id)
        return Device(
            asset_id=data["assetId"],
            product_key=data["productKey"],
            device_key=data["deviceKey"],
            secret=data["deviceSecret"],
            org_id=data["orgId"],
        )

    def update_device(
        self,
        device: DeviceRef | None,
        changes: Mapping[str, Any],
        *,
        product_key: str | None = None,
        device_key: str | None = None,
        org_id: str | None = None,
    ) -> None:
        """Changes the fields given (EnOS names: ``{"deviceDesc": "..."}``)."""
        self._device_call("POST", DEVICES, "update", device, product_key, device_key, org_id, dict(changes))

    def delete_device(
        self,
        device: DeviceRef | None = None,
        *,
        product_key: str | None = None,
        device_key: str | None = None,
        org_id: str | None = None,
    ) -> None:
        self._device_call("POST", DEVICES, "delete", device, product_key, device_key, org_id)

    # --------------------------------------------------------- certificates

    def _certificate(self, data: Mapping[str, Any], key: PrivateKey | None) -> Certificate:
        return Certificate(
            cert_sn=str(data["certSN"]),
            cert_pem=data["cert"],
            ca_cert_pem=data["caCert"],
            chain_url=data["certChainURL"],
            issue_authority=data["issueAuthority"],
            key=key,
        )

    def apply(
        self,
        device: DeviceRef | None = None,
        *,
        product_key: str | None = None,
        device_key: str | None = None,
        authority: Authority | None = None,
        key: PrivateKey | None = None,
        common_name: str | None = None,
        subject: Mapping[str, str] | None = None,
        valid_day: int | None = None,
        org_id: str | None = None,
    ) -> Certificate:
        """Apply Certificate for a fresh key (RSA-2048, or P-256 for ``authority="ECC"``), or for
        ``key``; the CSR has the subject EnOS requires and a unique CN unless told otherwise.
        The :class:`Certificate` holds the key."""
        if key is None:
            key = new_key(authority or "RSA")
        body: dict[str, Any] = {
            "csr": make_csr(key, common_name, subject),
            "issueAuthority": authority or authority_of(key),
        }
        if valid_day is not None:
            body["validDay"] = valid_day
        data = self._device_call("POST", CERTIFICATES, "apply", device, product_key, device_key, org_id, body)
        return self._certificate(data, key)

    def renew(
        self,
        certificate: Certificate | str | int,
        device: DeviceRef | None = None,
        *,
        product_key: str | None = None,
        device_key: str | None = None,
        new_key: PrivateKey | None = None,
        common_name: str | None = None,
        valid_day: int | None = None,
        org_id: str | None = None,
    ) -> Certificate:
        """Renew Certificate. Without ``new_key`` no CSR is sent: EnOS certifies the same key and
        subject again (the result keeps ``certificate``'s key when it is a :class:`Certificate`)."""
        sn = certificate.cert_sn if isinstance(certificate, Certificate) else str(certificate)
        body: dict[str, Any] = {"certSn": int(sn)}
        key = certificate.key if isinstance(certificate, Certificate) else None
        if new_key is not None:
            body["csr"] = make_csr(new_key, common_name)
            body["issueAuthority"] = authority_of(new_key)
            key = new_key
        if valid_day is not None:
            body["validDay"] = valid_day
        data = self._device_call("POST", CERTIFICATES, "renew", device, product_key, device_key, org_id, body)
        return self._certificate(data, key)

    def revoke(
        self,
        certificate: Certificate | str | int,
        device: DeviceRef | None = None,
        *,
        product_key: str | None = None,
        device_key: str | None = None,
        reason: int | str = 0,
        org_id: str | None = None,
    ) -> None:
        """Revoke Certificate (``reason``: an RFC 5280 code or its EnOS name, e.g.
        ``"KEY_COMPROMISE"``)."""
        sn = certificate.cert_sn if isinstance(certificate, Certificate) else str(certificate)
        self._device_call(
            "POST",
            CERTIFICATES,
            "revoke",
            device,
            product_key,
            device_key,
            org_id,
            {"certSn": int(sn), "reason": reason},
        )

    def certificates(
        self,
        device: DeviceRef | None = None,
        *,
        product_key: str | None = None,
        device_key: str | None = None,
        org_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """List Certificate: every certificate bound to the device, as EnOS lists them."""
        answer: list[dict[str, Any]] = self._device_call(
            "GET", CERTIFICATES, "list", device, product_key, device_key, org_id
        )
        return answer

    # --------------------------------------------------------------- MQTT

    def mqtt_login(
        self,
        device: DeviceRef | None = None,
        *,
        product_key: str | None = None,
        device_key: str | None = None,
        secret: str | None = None,
        client_id: str | None = None,
        sign_method: SignMethod = "sha256",
        timestamp: str | None = None,
    ) -> MqttLogin:
        """The MQTT CONNECT login of a device (see :func:`mqtt_login`). The secret is read from
        the mock unless ``device`` is a :class:`Device` or ``secret`` is given."""
        if not isinstance(device, Device):
            if secret is not None and product_key is not None and device_key is not None:
                device = Device("", product_key, device_key, secret, "")
            else:
                device = self.device(device, product_key=product_key, device_key=device_key)
        return mqtt_login(
            device.product_key,
            device.device_key,
            secret if secret is not None else device.secret,
            client_id=client_id,
            sign_method=sign_method,
            timestamp=timestamp,
        )

    def connections(self) -> list[Session]:
        """The live MQTT sessions."""
        return [
            Session(
                id=int(s["id"]),
                product_key=s["productKey"],
                device_key=s["deviceKey"],
                asset_id=s["assetId"],
                client_id=s["clientId"],
                cert_sn=s.get("certSN"),
                authority=s.get("authority"),
                since=_time(s["since"]),
                raw=s,
            )
            for s in self._admin("GET", "/connections")
        ]

    def disconnect(self, session: Session | int) -> None:
        """Closes one live MQTT session."""
        session_id = session.id if isinstance(session, Session) else session
        self._admin("DELETE", f"/connections/{session_id}")

    def send_command(
        self,
        device: DeviceRef | None = None,
        topic: str = "",
        payload: Any = None,
        *,
        product_key: str | None = None,
        device_key: str | None = None,
        qos: Literal[0, 1] = 1,
        reply_timeout_ms: int = 0,
    ) -> CommandResult:
        """Publishes ``payload`` to every live session of the device
        (``POST /__admin/mqtt/publish``, spec D2) and, with ``reply_timeout_ms`` > 0, waits for
        the device's message on ``{topic}_reply`` with the same ``id``.

        A ``topic`` not starting with ``/`` is under the device's own
        ``/sys/{productKey}/{deviceKey}/`` (e.g. ``"thing/service/measurepoint/set"``). A dict
        ``payload`` is sent as JSON, with a fresh ``id`` when it has none; a string as is. An
        unknown device raises :class:`HttpError` 404, a device with no live session 409.
        """
        if not topic:
            raise ValueError("send_command needs a topic")
        if isinstance(device, Device):
            names: dict[str, Any] = {"productKey": device.product_key, "deviceKey": device.device_key}
        elif device is not None:
            names = {"assetId": device}
        elif product_key is not None and device_key is not None:
            names = {"productKey": product_key, "deviceKey": device_key}
        else:
            raise ValueError("name the device: an assetId or Device, or product_key and device_key")
        if not topic.startswith("/"):
            if "productKey" not in names:
                resolved = self.device(device)
                names = {"productKey": resolved.product_key, "deviceKey": resolved.device_key}
            topic = f"/sys/{names['productKey']}/{names['deviceKey']}/{topic}"
        if isinstance(payload, dict) and "id" not in payload:
            payload = {"id": uuid.uuid4().hex[:16], **payload}
        body = {**names, "topic": topic, "payload": payload, "qos": qos, "replyTimeoutMs": reply_timeout_ms}
        answer = self._admin("POST", "/mqtt/publish", body=body)
        reply = answer.get("reply")
        return CommandResult(
            sessions=int(answer["sessions"]),
            reply=Reply(topic=reply["topic"], payload=reply["payload"]) if reply else None,
        )
