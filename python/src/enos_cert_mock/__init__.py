"""enos-cert-mock for Python: the mock's binary, a pytest plugin and a typed client.

    import enos_cert_mock

    with enos_cert_mock.start(auth="strict") as mock:      # a mock on free ports
        device = mock.create_device(mock.create_product())
        cert = mock.apply(device, authority="ECC")          # a fresh P-256 key and its CSR
        mock.advance_clock(days=731)

In pytest, the plugin gives the ``enos_mock`` fixture (see :mod:`enos_cert_mock.plugin`).
"""

from importlib import metadata as _metadata

from ._binary import ENV_VAR, find_binary
from .certs import Authority, CertFiles, Certificate, PrivateKey, make_csr, new_key
from .client import (
    App,
    Clock,
    CommandResult,
    Device,
    DeviceRef,
    EnosMock,
    ErrorRow,
    Fault,
    JournalEntry,
    MqttLogin,
    Org,
    Reply,
    Session,
    SignMethod,
    mqtt_login,
    signature,
)
from .errors import BinaryNotFound, EnosError, HttpError, MockError, MockStartError
from .process import FlagValue, MockProcess, start

try:
    __version__ = _metadata.version("enos-cert-mock")
except _metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "ENV_VAR",
    "find_binary",
    "start",
    "MockProcess",
    "FlagValue",
    "EnosMock",
    "App",
    "Authority",
    "Certificate",
    "CertFiles",
    "Clock",
    "CommandResult",
    "Device",
    "DeviceRef",
    "ErrorRow",
    "Fault",
    "JournalEntry",
    "MqttLogin",
    "Org",
    "PrivateKey",
    "Reply",
    "Session",
    "SignMethod",
    "make_csr",
    "new_key",
    "mqtt_login",
    "signature",
    "MockError",
    "EnosError",
    "HttpError",
    "BinaryNotFound",
    "MockStartError",
]
