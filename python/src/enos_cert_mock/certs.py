"""Keys, CSRs and issued certificates, made and read with ``cryptography``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = ["Authority", "PrivateKey", "Certificate", "CertFiles", "new_key", "make_csr", "key_pem"]

#: The two EnOS authorities: RSA-2048 keys under "EnOS CA", P-256 keys under "EnOS ECC CA".
Authority = Literal["RSA", "ECC"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: The subject fields EnOS requires (spec A6), in the order a CSR carries them.
_SUBJECT_OIDS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "emailAddress": NameOID.EMAIL_ADDRESS,
}
DEFAULT_SUBJECT: Mapping[str, str] = {
    "C": "CN",
    "ST": "Shanghai",
    "L": "Shanghai",
    "O": "EnOS",
    "OU": "EnOS",
}


def new_key(authority: Authority = "RSA") -> PrivateKey:
    """A fresh key of the kind the authority certifies: RSA-2048 or EC P-256."""
    if authority == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if authority == "ECC":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"authority must be 'RSA' or 'ECC', not {authority!r}")


def authority_of(key: PrivateKey) -> Authority:
    return "ECC" if isinstance(key, ec.EllipticCurvePrivateKey) else "RSA"


def make_csr(
    key: PrivateKey,
    common_name: str | None = None,
    subject: Mapping[str, str] | None = None,
) -> str:
    """A PEM PKCS#10 request signed with SHA-256, with the subject EnOS requires.

    ``subject`` overrides fields of C=CN, ST=Shanghai, L=Shanghai, O=EnOS, OU=EnOS; the CN is
    ``common_name``, else a fresh unique one (EnOS refuses a second valid certificate with the
    same CN under one authority).
    """
    fields = dict(DEFAULT_SUBJECT)
    fields["CN"] = common_name or f"enos-cert-mock-{uuid.uuid4().hex[:12]}"
    fields.update(subject or {})
    unknown = set(fields) - set(_SUBJECT_OIDS)
    if unknown:
        raise ValueError(f"unknown subject fields {sorted(unknown)}; known: {list(_SUBJECT_OIDS)}")
    name = x509.Name([x509.NameAttribute(_SUBJECT_OIDS[k], v) for k, v in fields.items()])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: PrivateKey) -> str:
    """The key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@dataclass(frozen=True)
class CertFiles:
    """Where :meth:`Certificate.write` put a device's files (what device SDKs take)."""

    key: Path
    cert: Path
    ca: Path


@dataclass(frozen=True)
class Certificate:
    """An issued certificate, as apply and renew answer it, with the key it certifies."""

    cert_sn: str
    """The serial, a decimal string (EnOS's ``certSN``)."""
    cert_pem: str
    ca_cert_pem: str
    """The issuing root (``caCert``)."""
    chain_url: str
    """``certChainURL``: where the root is served."""
    issue_authority: Authority
    key: PrivateKey | None
    """The private key, when this package made it (or was given it)."""

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem.encode())

    @property
    def serial(self) -> int:
        return int(self.cert_sn)

    @property
    def key_pem(self) -> str:
        if self.key is None:
            raise ValueError("this certificate's key is not known here")
        return key_pem(self.key)

    def write(self, directory: str | Path, name: str = "device") -> CertFiles:
        """Writes ``{name}.key``, ``{name}.pem`` and ``{name}-ca.pem`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = CertFiles(
            key=directory / f"{name}.key",
            cert=directory / f"{name}.pem",
            ca=directory / f"{name}-ca.pem",
        )
        files.key.write_text(self.key_pem)
        files.cert.write_text(self.cert_pem)
        files.ca.write_text(self.ca_cert_pem)
        return files
