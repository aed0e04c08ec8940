#!/usr/bin/env bash
# Peer test: unmodified MSAL for Python's interactive sign-in (`acquire_token_interactive`:
# authorization code + PKCE, loopback redirect, `response_mode=form_post`, nonce) against
# `provision emulator --tls`, as the Microsoft Graph Command Line Tools; then
# `acquire_token_silent` redeems the refresh token.
#
# Not run by CI: it needs msal from PyPI (the Azure CLI's virtualenv of crates/entra-emulator/tests/peers/azure-cli.sh
# has it, else one is made). The person is played over HTTP by the `$BROWSER` helper below
# (sign-in form, consent, the form_post page); crates/provision/tests/it/browser.rs does it in Chromium.
#
#   crates/entra-emulator/tests/peers/msal-interactive.sh
#
# Environment:
#   MSAL_VENV       virtualenv with msal (default ~/.cache/provision/azure-cli-venv, else made)
#   PROVISION_BIN   the provision binary (default: cargo build, then target/debug/provision)
#   KEEP_WORKDIR=1  keep the temporary folder (emulator output and log, the person's log)
#
# It ends with `PASS: …`, or stops with `FAIL: …`.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
venv="${MSAL_VENV:-$HOME/.cache/provision/azure-cli-venv}"
work="$(mktemp -d "${TMPDIR:-/tmp}/provision-msal.XXXXXX")"
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

if ! "$venv/bin/python" -c 'import msal' 2>/dev/null; then
    venv="$work/venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet msal
fi
bin="${PROVISION_BIN:-}"
if [[ -z "$bin" ]]; then
    (cd "$repo" && cargo build --quiet)
    bin="$repo/target/debug/provision"
fi

"$bin" emulator --tls --emulator-state "$work/tenant.json" > "$work/ready.json" 2> "$work/emulator.log" &
emulator_pid=$!
while [[ ! -s "$work/ready.json" ]]; do
    kill -0 "$emulator_pid"
    read -r -t 0.1 <> <(:) || true
done

cat > "$work/person.py" <<'EOF'
# The person at the browser: sign in, accept the consent page, submit the form_post page.
import html, json, re, ssl, sys, urllib.error, urllib.parse, urllib.request
work = sys.argv[1]
ready = json.load(open(f"{work}/ready.json"))
tls = ssl.create_default_context(cafile=ready["ca_cert"])
class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None
web = urllib.request.build_opener(urllib.request.HTTPSHandler(context=tls), Stay)
def post(url, fields):
    try:
        return web.open(urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode())).read().decode()
    except urllib.error.HTTPError as e:
        return e.read().decode()
flow = lambda page: re.search(r'name="flowToken" value="([^"]+)"', page).group(1)
base, tenant = ready["authority_url"], ready["tenant_id"]
page = web.open(sys.argv[2]).read().decode()
page = post(f"{base}/{tenant}/login", {"flowToken": flow(page), "loginfmt": ready["admin_user"], "passwd": ready["admin_password"]})
if "Consent/Set" in page:
    assert "Application.ReadWrite.All" in page, page
    page = post(f"{base}/{tenant}/Consent/Set", {"flowToken": flow(page), "accept": "1"})
action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
fields = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}
urllib.request.urlopen(urllib.request.Request(action, data=urllib.parse.urlencode(fields).encode())).read()
EOF
cat > "$work/browser" <<EOF
#!/bin/sh
"$venv/bin/python" "$work/person.py" "$work" "\$1" > "$work/person.log" 2>&1 &
EOF
chmod +x "$work/browser"

cat > "$work/msal_check.py" <<'EOF'
import json, sys, msal
ready = json.load(open(sys.argv[1] + "/ready.json"))
app = msal.PublicClientApplication(
    "14d82eec-204b-4c2f-b7e8-296a70dab67e",
    authority=f'{ready["authority_url"]}/{ready["tenant_id"]}',
    instance_discovery=False,
)
scopes = ["https://graph.microsoft.com/Application.ReadWrite.All"]
r = app.acquire_token_interactive(scopes, timeout=60)
assert "access_token" in r, r
assert r["id_token_claims"]["preferred_username"] == ready["admin_user"], r["id_token_claims"]
[account] = app.get_accounts()
app.token_cache.remove_at(app.token_cache.find(msal.TokenCache.CredentialType.ACCESS_TOKEN)[0])
s = app.acquire_token_silent(scopes, account=account)
assert s and "access_token" in s and s.get("token_source") == "identity_provider", s
print("msal: interactive sign-in and silent refresh against the emulator: ok")
EOF
REQUESTS_CA_BUNDLE="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca_cert"])' "$work/ready.json")" \
BROWSER="$work/browser" "$venv/bin/python" "$work/msal_check.py" "$work" || {
    cat "$work/person.log" >&2
    echo "FAIL: MSAL's interactive sign-in against the emulator" >&2
    exit 1
}
echo "PASS: MSAL's interactive sign-in and silent refresh worked against the emulator"
