"""Verifies a device certificate the way a strict TLS server back end would: Python
`cryptography`'s X.509 client verifier (RFC 5280 web PKI policy), trusting one root, at
a given time. Prints one JSON object: {"ok": true, "subjects": [...]} or
{"ok": false, "error": "..."}."""

import argparse
import datetime
import json

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True, help="PEM file of the trusted root")
    parser.add_argument("--leaf", required=True, help="PEM file of the device certificate")
    parser.add_argument("--time", required=True, type=int, help="validation time, epoch seconds")
    args = parser.parse_args()
    with open(args.root, "rb") as f:
        root = x509.load_pem_x509_certificate(f.read())
    with open(args.leaf, "rb") as f:
        leaf = x509.load_pem_x509_certificate(f.read())
    when = datetime.datetime.fromtimestamp(args.time, tz=datetime.timezone.utc)
    verifier = PolicyBuilder().store(Store([root])).time(when).build_client_verifier()
    try:
        verified = verifier.verify(leaf, [])
    except VerificationError as e:
        print(json.dumps({"ok": False, "error": str(e)}))
        return
    subjects = [getattr(name, "value", str(name)) for name in (verified.subjects or [])]
    print(json.dumps({"ok": True, "subjects": subjects}))


if __name__ == "__main__":
    main()
