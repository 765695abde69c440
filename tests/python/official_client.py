"""Drives the mock with Envision's official Python client (enos-poseidon 0.2.0), unchanged.

Run by tests/python_client.rs with the interpreter of a virtual environment holding the
client. Every call goes through `poseidon.urlopen`, exactly as an application would make
it. The only thing touched is the module-level `pubkey` the client encrypts its token
under, and only with --pubkey (strict mode: the mock's test key instead of the gateway's).

The client prints its own errors to stdout, so the results go to the --out file as JSON:
each step's parsed answer, or null when the client returned None (an HTTP error).
"""

import argparse
import json

import poseidon.poseidon as official


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the mock's base URL")
    parser.add_argument("--org", required=True)
    parser.add_argument("--asset", required=True)
    parser.add_argument("--app-key", required=True)
    parser.add_argument("--app-secret", required=True)
    parser.add_argument("--csr", help="file with a PEM CSR (apply)")
    parser.add_argument("--pubkey", help="file with a base64 DER public key to use instead of the SDK's")
    parser.add_argument("--flow", choices=["full", "apply", "list"], default="full")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    if args.pubkey:
        with open(args.pubkey, "rb") as f:
            official.pubkey = f.read().strip()

    def url(action):
        return "%s/connect-service/v2.0/certificates?action=%s&orgId=%s&assetId=%s" % (
            args.base, action, args.org, args.asset)

    def post(action, body):
        return official.urlopen(args.app_key, args.app_secret, url(action), data=body, method="POST")

    def get(action):
        return official.urlopen(args.app_key, args.app_secret, url(action), method="GET")

    results = {}

    def save():
        with open(args.out, "w") as f:
            json.dump(results, f)

    if args.flow == "list":
        results["list"] = get("list")
        save()
        return

    with open(args.csr) as f:
        csr = f.read()
    results["apply"] = post("apply", {"csr": csr, "validDay": 30})
    save()
    if args.flow == "apply" or not ok(results["apply"]):
        return
    first = results["apply"]["data"]["certSN"]
    results["list1"] = get("list")
    results["renew"] = post("renew", {"certSn": int(first)})
    save()
    if not ok(results["renew"]):
        return
    second = results["renew"]["data"]["certSN"]
    results["revoke"] = post("revoke", {"certSn": second, "reason": 1})
    results["list2"] = get("list")
    save()


def ok(answer):
    return isinstance(answer, dict) and answer.get("code") == 0


if __name__ == "__main__":
    main()
