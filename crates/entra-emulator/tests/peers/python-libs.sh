#!/usr/bin/env bash
# Peer test: Microsoft's own Python libraries, unmodified, against `provision emulator --tls`:
# MSAL (confidential and public clients), azure-identity and the Microsoft Graph Python SDK
# (msgraph-sdk, on Kiota). What it drives is in crates/entra-emulator/tests/peers/python_libs.py:
#
#   client credentials (MSAL, azure-identity), device code approved / declined / expired
#   (MSAL, with client_info keying the account), refresh (MSAL's silent sign-in), certificate
#   credentials (MSAL with x5t and with x5t#S256, both base64url-padded as MSAL writes them;
#   azure-identity's CertificateCredential), the SDK creating an application, its service
#   principal and a grant and reading them back as typed models, deleted items through the SDK
#   (the `graph.application` cast), throttling absorbed by the SDK's retry handler, and a
#   device-code sign-in through `/organizations`.
#
# Not run by CI: it installs the libraries from PyPI (~60 MB) into a virtualenv the first time.
#
#   crates/entra-emulator/tests/peers/python-libs.sh
#
# Environment:
#   PY_LIBS_VENV    virtualenv holding the libraries (default ~/.cache/provision/python-libs-venv)
#   PROVISION_BIN   the provision binary (default: cargo build, then target/debug/provision)
#   KEEP_WORKDIR=1  keep the temporary folder (emulator output and log) for inspection
#
# Every step prints `ok: …` or stops with `FAIL: …`; the last line is PASS when all held.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
venv="${PY_LIBS_VENV:-$HOME/.cache/provision/python-libs-venv}"
work="$(mktemp -d "${TMPDIR:-/tmp}/provision-python-libs.XXXXXX")"
emulator_pid=""

cleanup() {
    if [[ -n "$emulator_pid" ]]; then
        kill "$emulator_pid" 2>/dev/null || true
        wait "$emulator_pid" 2>/dev/null || true
    fi
    if [[ "${KEEP_WORKDIR:-0}" == 1 ]]; then
        echo "work folder kept: $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# ---- the libraries in a virtualenv --------------------------------------------------------
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import msal, azure.identity, msgraph' 2>/dev/null; then
    step "installing msal, azure-identity, msgraph-sdk into $venv (first run only)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet msal azure-identity msgraph-sdk cryptography
fi
"$venv/bin/python" - <<'EOF' >&2
from importlib.metadata import version
print("libraries:", ", ".join(f"{p} {version(p)}" for p in
      ["msal", "azure-identity", "msgraph-sdk", "microsoft-kiota-http", "cryptography"]))
EOF

# ---- the emulator --------------------------------------------------------------------------
if [[ -z "${PROVISION_BIN:-}" ]]; then
    step "building provision"
    (cd "$repo" && cargo build --quiet)
    PROVISION_BIN="$repo/target/debug/provision"
fi
step "starting provision emulator --tls --manual-approval"
# Device codes wait for an approval, live 6 s and are polled every second, so that approve,
# deny and expiry each take seconds.
"$PROVISION_BIN" emulator --tls --emulator-state "$work/tenant.json" --manual-approval \
    --device-code-lifetime-secs 6 --device-code-interval-secs 1 \
    >"$work/ready.json" 2>"$work/emulator.log" &
emulator_pid=$!
for _ in $(seq 1 100); do
    [[ -s "$work/ready.json" ]] && break
    kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emulator.log" >&2; fail "the emulator exited"; }
    sleep 0.1
done
[[ -s "$work/ready.json" ]] || fail "the emulator printed no ready line"

# ---- the libraries -------------------------------------------------------------------------
step "driving the emulator through MSAL, azure-identity and msgraph-sdk"
PEER_READY="$work/ready.json" PEER_WORK="$work" "$venv/bin/python" "$here/python_libs.py"

step "requests the emulator served, by kind"
ca="$("$venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca_cert"])' "$work/ready.json")"
authority="$("$venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["authority_url"])' "$work/ready.json")"
curl -sS --cacert "$ca" "$authority/_emulator/stats" |
    "$venv/bin/python" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"requests": d["requests"], "faults": {k: v for k, v in d["faults"].items() if v}, "retry_after_violations": d["retry_after_violations"]}, indent=1))'

printf '\nPASS: MSAL, azure-identity and msgraph-sdk worked against the emulator\n' >&2
