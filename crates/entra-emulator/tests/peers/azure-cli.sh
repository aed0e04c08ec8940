#!/usr/bin/env bash
# Peer test: the unmodified Azure CLI against `provision emulator --tls` (README.md "The emulator":
# az cloud register, az login --service-principal, az ad app create, az ad sp create,
# az ad app update, az ad app permission add|grant, az ad app delete).
#
# Not run by CI: it installs azure-cli from PyPI (~700 MB) into a virtualenv the first time.
#
#   crates/entra-emulator/tests/peers/azure-cli.sh
#
# Environment:
#   AZ_VENV         virtualenv holding azure-cli (default ~/.cache/provision/azure-cli-venv)
#   PROVISION_BIN   the provision binary (default: cargo build, then target/debug/provision)
#   KEEP_WORKDIR=1  keep the temporary folder (az config, emulator output) for inspection
#
# Every az command must exit 0, and its effect is checked through Graph with curl, using the
# emulator's administrator client and the CA the emulator wrote (`ca_cert`).

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
venv="${AZ_VENV:-$HOME/.cache/provision/azure-cli-venv}"
work="$(mktemp -d "${TMPDIR:-/tmp}/provision-azure-cli.XXXXXX")"
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

# ---- azure-cli in a virtualenv -------------------------------------------------------------
if [[ ! -x "$venv/bin/az" ]]; then
    step "installing azure-cli into $venv (first run only)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet azure-cli
fi
az="$venv/bin/az"
py="$venv/bin/python"
# A private az configuration: nothing of the user's logins or clouds is read or changed.
export AZURE_CONFIG_DIR="$work/azure"
export AZURE_CORE_COLLECT_TELEMETRY=no
export AZURE_CORE_NO_COLOR=1
export AZURE_CORE_ONLY_SHOW_ERRORS=1
"$az" version --output none

# ---- the emulator --------------------------------------------------------------------------
if [[ -z "${PROVISION_BIN:-}" ]]; then
    step "building provision"
    (cd "$repo" && cargo build --quiet)
    PROVISION_BIN="$repo/target/debug/provision"
fi
step "starting provision emulator --tls"
"$PROVISION_BIN" emulator --tls --emulator-state "$work/tenant.json" >"$work/ready.json" 2>"$work/emulator.log" &
emulator_pid=$!
for _ in $(seq 1 100); do
    [[ -s "$work/ready.json" ]] && break
    kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emulator.log" >&2; fail "the emulator exited"; }
    sleep 0.1
done
[[ -s "$work/ready.json" ]] || fail "the emulator printed no ready line"

field() { "$py" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])' "$work/ready.json" "$1"; }
authority="$(field authority_url)"
graph_url="$(field graph_url)"
tenant_id="$(field tenant_id)"
client_id="$(field client_id)"
client_secret="$(field client_secret)"
ca_cert="$(field ca_cert)"
echo "emulator: $authority (tenant $tenant_id), CA $ca_cert" >&2
# Python requests (and so az and MSAL) trust the emulator's CA through this.
export REQUESTS_CA_BUNDLE="$ca_cert"

# Graph as the administrator, for checking what az did.
graph_token="$(curl -sS --fail --cacert "$ca_cert" "$authority/$tenant_id/oauth2/v2.0/token" \
    --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$client_id" \
    --data-urlencode "client_secret=$client_secret" \
    --data-urlencode scope=https://graph.microsoft.com/.default |
    "$py" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
graph() { curl -sS --cacert "$ca_cert" -H "Authorization: Bearer $graph_token" "$graph_url$1"; }
json() { "$py" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# ---- the Azure CLI -------------------------------------------------------------------------
step "az cloud register --endpoint-resource-manager $authority"
"$az" cloud register --name ProvisionEmulator --endpoint-resource-manager "$authority"
"$az" cloud set --name ProvisionEmulator
"$az" cloud show --output json | json 'd["endpoints"]["activeDirectory"], d["endpoints"]["microsoftGraphResourceId"]'

step "az config set core.instance_discovery=false"
"$az" config set core.instance_discovery=false

step "az login --service-principal"
"$az" login --service-principal --username "$client_id" --password "$client_secret" \
    --tenant "$tenant_id" --allow-no-subscriptions --output json | json 'd[0]["tenantId"], d[0]["user"]'

name="az-peer-$RANDOM"
step "az ad app create --display-name $name"
app_json="$("$az" ad app create --display-name "$name" --output json)"
app_id="$(echo "$app_json" | json 'd["appId"]')"
object_id="$(echo "$app_json" | json 'd["id"]')"
echo "created appId $app_id (object $object_id)" >&2
[[ "$(graph "/applications(appId='$app_id')" | json 'd["displayName"]')" == "$name" ]] ||
    fail "the application is not visible through Graph"

step "az ad sp create --id $app_id"
sp_id="$("$az" ad sp create --id "$app_id" --output json | json 'd["id"]')"
[[ "$(graph "/servicePrincipals(appId='$app_id')" | json 'd["id"]')" == "$sp_id" ]] ||
    fail "the service principal is not visible through Graph"

step "az ad app update --public-client-redirect-uris https://portal.azure.com"
"$az" ad app update --id "$app_id" --public-client-redirect-uris https://portal.azure.com
[[ "$(graph "/applications(appId='$app_id')" | json 'd["publicClient"]["redirectUris"]')" == "['https://portal.azure.com']" ]] ||
    fail "the redirect URI is not visible through Graph"

# Microsoft Threat Protection and its Incident.Read scope (docs/graph-notes.md §8.2).
mtp=8ee8fdad-f234-4243-8f3b-15c294843740
incident_read=12c153a4-4204-4224-aa3c-4626e2f47c2b
step "az ad app permission add --api $mtp --api-permissions $incident_read=Scope"
"$az" ad app permission add --id "$app_id" --api "$mtp" --api-permissions "$incident_read=Scope"
[[ "$(graph "/applications(appId='$app_id')" | json 'd["requiredResourceAccess"][0]["resourceAccess"][0]["id"]')" == "$incident_read" ]] ||
    fail "the permission is not visible through Graph"

step "az ad app permission grant --api $mtp --scope Incident.Read"
"$az" ad app permission grant --id "$app_id" --api "$mtp" --scope Incident.Read --output json |
    json 'd["consentType"], d["scope"]'
[[ "$(graph "/oauth2PermissionGrants?\$filter=clientId%20eq%20'$sp_id'" | json 'd["value"][0]["scope"]')" == "Incident.Read" ]] ||
    fail "the grant is not visible through Graph"

step "az ad app show --id $app_id"
"$az" ad app show --id "$app_id" --output json | json 'd["appId"], d["displayName"]'

step "az ad app delete --id $app_id"
"$az" ad app delete --id "$app_id"
status="$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$ca_cert" -H "Authorization: Bearer $graph_token" \
    "$graph_url/applications(appId='$app_id')")"
[[ "$status" == 404 ]] || fail "the application still answers $status after delete"
[[ "$(graph "/directory/deletedItems/microsoft.graph.application" | json '[a["appId"] for a in d["value"]]')" == *"$app_id"* ]] ||
    fail "the deleted application is not in deleted items"

step "requests the emulator served, by kind"
curl -sS --cacert "$ca_cert" "$authority/_emulator/stats" | json 'json.dumps(d["requests"], indent=1)'

printf '\nPASS: the Azure CLI worked against the emulator\n' >&2
