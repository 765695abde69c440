#!/bin/sh
# The example client of docker-compose.yml: what a device or back end next to the mock
# does. It waits for the mock, makes a key and CSR, applies, and checks the certificate
# with the root and CRL fetched from the URLs the mock put in the answer and in the
# certificate itself, which name an address this client can reach. Then it revokes the
# certificate and shows the CRL check refusing it. Needs sh, curl, jq and openssl.
#
#   ENOS_MOCK_URL=http://127.0.0.1:8080 sh examples/compose/client.sh
set -eu

BASE=${ENOS_MOCK_URL:-http://enos-cert-mock:8080}
AUTH='apim-accesstoken: compose-example'
CERTS="$BASE/connect-service/v2.0/certificates"
DEVICE="orgId=o15444172373271&assetId=Uvmm5AXU"   # a device of the shipped fixtures
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# 1. Wait until the mock answers (up to 30 s).
i=0
until curl -sf "$BASE/__admin/health" >/dev/null; do
    i=$((i + 1))
    [ "$i" -le 60 ] || { echo "client: no answer from $BASE" >&2; exit 1; }
    sleep 0.5
done

# 2. A device key and CSR, and the apply.
CN="compose-device-$(openssl rand -hex 4)"
openssl req -new -newkey rsa:2048 -nodes -keyout dev.key -out dev.csr \
    -subj "/C=CN/ST=Shanghai/L=Shanghai/O=EnOS/CN=$CN/OU=EnOS" 2>/dev/null
jq -n --rawfile csr dev.csr '{csr: $csr}' \
    | curl -sf -H "$AUTH" -H 'Content-Type: application/json' \
        -X POST "$CERTS?action=apply&$DEVICE" -d @- >apply.json
jq -e '.code == 0' apply.json >/dev/null || { cat apply.json >&2; exit 1; }
jq -r .data.cert apply.json >dev.pem
SN=$(jq -r .data.certSN apply.json)
echo "client: issued certificate $SN for $CN"

# 3. The root from certChainURL, the CRL from the certificate's distribution point.
curl -sf "$(jq -r .data.certChainURL apply.json)" -o root.pem
CRL_URL=$(openssl x509 -in dev.pem -noout -ext crlDistributionPoints | sed -n 's/^ *URI://p')
echo "client: root from $(jq -r .data.certChainURL apply.json), CRL from $CRL_URL"
curl -sf "$CRL_URL" -o crl.der
openssl crl -inform DER -in crl.der -out crl.pem
openssl verify -crl_check -CAfile root.pem -CRLfile crl.pem dev.pem

# 4. Revoke it: the fresh CRL lists it and the same check now fails.
curl -sf -H "$AUTH" -H 'Content-Type: application/json' -X POST "$CERTS?action=revoke&$DEVICE" \
    -d "{\"certSn\": $SN, \"reason\": \"KEY_COMPROMISE\"}" | jq -e '.code == 0' >/dev/null
curl -sf "$CRL_URL" -o crl.der
openssl crl -inform DER -in crl.der -out crl.pem
if openssl verify -crl_check -CAfile root.pem -CRLfile crl.pem dev.pem >verify.out 2>&1; then
    echo "client: FAILED: the revoked certificate still verifies" >&2
    exit 1
fi
grep -q 'certificate revoked' verify.out || { cat verify.out >&2; exit 1; }
echo "client: revoked $SN; the CRL check refuses it"
