"""Microsoft's Python libraries against a running `provision emulator --tls --manual-approval`.

Run by crates/entra-emulator/tests/peers/python-libs.sh, which starts the emulator and passes its ready line in
PEER_READY. Every library is used as its documentation shows, pointed at the emulator only
through its authority / base URL and the emulator's CA; nothing is patched.
"""

import asyncio
import base64
import datetime
import json
import os
import sys
import urllib.parse

import httpx
import msal
import requests
from azure.identity import CertificateCredential, ClientSecretCredential
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.application import Application
from msgraph.generated.models.key_credential import KeyCredential
from msgraph.generated.models.o_auth2_permission_grant import OAuth2PermissionGrant
from msgraph.generated.models.public_client_application import PublicClientApplication
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.oauth2_permission_grants.oauth2_permission_grants_request_builder import (
    Oauth2PermissionGrantsRequestBuilder,
)
from msgraph_core import GraphClientFactory

READY = json.load(open(os.environ["PEER_READY"]))
WORK = os.environ["PEER_WORK"]
AUTHORITY = READY["authority_url"]
TENANT = READY["tenant_id"]
CA = READY["ca_cert"]
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
HOST = urllib.parse.urlparse(AUTHORITY).hostname

# requests (MSAL, azure-identity) and httpx (Kiota) trust the emulator's CA through these.
os.environ["REQUESTS_CA_BUNDLE"] = CA
os.environ["SSL_CERT_FILE"] = CA

passed = []


def ok(what):
    passed.append(what)
    print(f"ok: {what}", flush=True)


def fail(what):
    print(f"FAIL: {what}", flush=True)
    sys.exit(1)


def check(cond, what, detail=""):
    if not cond:
        fail(f"{what}: {detail}")


def control(method, path, body=None):
    r = requests.request(method, f"{AUTHORITY}/_emulator{path}", json=body, timeout=30)
    r.raise_for_status()
    return r.json() if r.content else None


def claims(jwt):
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# ---- Graph SDK client --------------------------------------------------------------------

def graph_client(credential):
    """The SDK as its docs build it, with the emulator's Graph URL as base URL."""
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=[HOST])
    http = GraphClientFactory.create_with_default_middleware(client=httpx.AsyncClient(verify=CA, timeout=60))
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = READY["graph_url"]
    return GraphServiceClient(request_adapter=adapter)


# ---- sign-ins ----------------------------------------------------------------------------

def client_credentials():
    app = msal.ConfidentialClientApplication(
        READY["client_id"], client_credential=READY["client_secret"],
        authority=f"{AUTHORITY}/{TENANT}", instance_discovery=False)
    r = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    check("access_token" in r, "MSAL client credentials", r)
    roles = claims(r["access_token"]).get("roles", [])
    check("Application.ReadWrite.All" in roles, "MSAL client credentials roles", roles)
    ok("MSAL ConfidentialClientApplication.acquire_token_for_client (client secret)")

    cred = ClientSecretCredential(TENANT, READY["client_id"], READY["client_secret"],
                                  authority=AUTHORITY, disable_instance_discovery=True)
    t = cred.get_token(GRAPH_SCOPE)
    check(claims(t.token)["tid"] == TENANT, "azure-identity ClientSecretCredential", t)
    ok("azure-identity ClientSecretCredential.get_token")
    return cred


def device_code(client_id, tenant_segment, decide, scopes):
    """One device-code sign-in with MSAL; `decide` is approve, deny or None (let it expire)."""
    app = msal.PublicClientApplication(client_id, authority=f"{AUTHORITY}/{tenant_segment}",
                                       instance_discovery=False)
    flow = app.initiate_device_flow(scopes=scopes)
    check("user_code" in flow, f"initiate_device_flow via /{tenant_segment}", flow)
    if decide:
        control("POST", f"/devicecode/{flow['user_code']}/{decide}")
    return app, app.acquire_token_by_device_flow(flow)


def device_code_flows(public_client, scopes):
    app, r = device_code(public_client, TENANT, "approve", scopes)
    check("access_token" in r, "device code approved", r)
    c = claims(r["access_token"])
    accounts = app.get_accounts()
    check(len(accounts) == 1, "one account after sign-in", accounts)
    # client_info keys the account as uid.utid, as with Entra.
    check(accounts[0]["home_account_id"] == f"{c['oid']}.{TENANT}", "home_account_id from client_info", accounts[0])
    ok(f"MSAL device code approved; account {accounts[0]['home_account_id']} keyed by client_info")

    again = app.acquire_token_silent(scopes, account=accounts[0], force_refresh=True)
    check(again and "access_token" in again and again["access_token"] != r["access_token"],
          "refresh through acquire_token_silent(force_refresh=True)", again)
    ok("MSAL refresh token redeemed (acquire_token_silent, force_refresh)")

    _, r = device_code(public_client, TENANT, "deny", scopes)
    check(r.get("error") in ("authorization_declined", "access_denied"), "device code declined", r)
    ok(f"MSAL device code declined: {r['error']} {r.get('error_codes')}")

    _, r = device_code(public_client, TENANT, None, scopes)
    check(r.get("error") == "expired_token", "device code expired", r)
    ok(f"MSAL device code expired: {r['error']} {r.get('error_codes')}")


# ---- certificates ------------------------------------------------------------------------

def new_certificate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "python peer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    pem_path = os.path.join(WORK, "peer-cert.pem")
    with open(pem_path, "wb") as f:
        f.write(key_pem + cert_pem)
    pfx_path = os.path.join(WORK, "peer-cert.pfx")
    with open(pfx_path, "wb") as f:
        f.write(pkcs12.serialize_key_and_certificates(b"peer", key, cert, None, serialization.NoEncryption()))
    return cert, key_pem, pem_path, pfx_path


def certificate_sign_ins(app_id, cert, key_pem, pem_path, pfx_path):
    sha1 = cert.fingerprint(hashes.SHA1()).hex()
    authority = f"{AUTHORITY}/{TENANT}"
    seen = []
    for label, credential in [
        ("x5t (SHA-1 thumbprint, padded base64url)", {"private_key": key_pem.decode(), "thumbprint": sha1}),
        ("x5t#S256 (from a PFX, padded base64url)", {"private_key_pfx_path": pfx_path}),
    ]:
        app = msal.ConfidentialClientApplication(app_id, client_credential=credential, authority=authority,
                                                 instance_discovery=False)
        r = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        check("access_token" in r, f"MSAL certificate {label}", r)
        seen.append(label)
        ok(f"MSAL certificate credential, {label}")
    cred = CertificateCredential(TENANT, app_id, certificate_path=pem_path, authority=AUTHORITY,
                                 disable_instance_discovery=True)
    t = cred.get_token(GRAPH_SCOPE)
    check(claims(t.token)["appid"] == app_id, "azure-identity CertificateCredential", claims(t.token))
    ok("azure-identity CertificateCredential.get_token")


# ---- the Graph SDK -----------------------------------------------------------------------

async def sdk(cred):
    client = graph_client(cred)
    name = f"sdk-peer-{os.getpid()}"
    app = await client.applications.post(Application(display_name=name))
    check(isinstance(app, Application) and app.app_id, "SDK applications.post", app)
    sp = await client.service_principals.post(ServicePrincipal(app_id=app.app_id))
    check(isinstance(sp, ServicePrincipal) and sp.app_id == app.app_id, "SDK servicePrincipals.post", sp)
    graph_sp = await client.service_principals_with_app_id(GRAPH_APP_ID).get()
    check(graph_sp.display_name == "Microsoft Graph", "SDK servicePrincipals(appId=…)", graph_sp)
    grant = await client.oauth2_permission_grants.post(OAuth2PermissionGrant(
        client_id=sp.id, consent_type="AllPrincipals", resource_id=graph_sp.id, scope="User.Read"))
    check(isinstance(grant, OAuth2PermissionGrant) and grant.scope == "User.Read", "SDK grant post", grant)

    read = await client.applications.by_application_id(app.id).get()
    check(read.display_name == name and read.app_id == app.app_id, "SDK application read back", read)
    sp_read = await client.service_principals.by_service_principal_id(sp.id).get()
    check(sp_read.app_id == app.app_id, "SDK service principal read back", sp_read)
    query = Oauth2PermissionGrantsRequestBuilder.Oauth2PermissionGrantsRequestBuilderGetQueryParameters(
        filter=f"clientId eq '{sp.id}'")
    config = Oauth2PermissionGrantsRequestBuilder.Oauth2PermissionGrantsRequestBuilderGetRequestConfiguration(
        query_parameters=query)
    grants = await client.oauth2_permission_grants.get(request_configuration=config)
    check([g.id for g in grants.value] == [grant.id], "SDK grants read back with $filter", grants)
    ok(f"SDK created application {app.app_id}, its service principal and a grant, read back as typed models")

    # A public client for the device-code sign-ins, consented to User.Read.
    public = await client.applications.post(Application(
        display_name=f"{name}-public", is_fallback_public_client=True, sign_in_audience="AzureADMultipleOrgs",
        public_client=PublicClientApplication(redirect_uris=["http://localhost"])))
    public_sp = await client.service_principals.post(ServicePrincipal(app_id=public.app_id))
    await client.oauth2_permission_grants.post(OAuth2PermissionGrant(
        client_id=public_sp.id, consent_type="AllPrincipals", resource_id=graph_sp.id, scope="User.Read"))

    # A certificate credential uploaded through the SDK: Graph fills in what it reads from it.
    cert, key_pem, pem_path, pfx_path = new_certificate()
    cert_app = await client.applications.post(Application(
        display_name=f"{name}-cert",
        key_credentials=[KeyCredential(type="AsymmetricX509Cert", usage="Verify",
                                       key=cert.public_bytes(serialization.Encoding.DER))]))
    await client.service_principals.post(ServicePrincipal(app_id=cert_app.app_id))
    stored = (await client.applications.by_application_id(cert_app.id).get()).key_credentials[0]
    thumb = cert.fingerprint(hashes.SHA1()).hex().upper()
    # Edm.Binary: the SDK base64-decodes what Graph sends (the thumbprint's upper-case hex, as
    # the Azure CLI's recordings show it); encoding the bytes again gives that text back.
    got = stored.custom_key_identifier
    got = base64.b64encode(got).decode() if isinstance(got, (bytes, bytearray)) else got
    check(got == thumb, "keyCredential customKeyIdentifier is the thumbprint", got)
    check(stored.display_name == "CN=python peer", "keyCredential displayName is the subject", stored.display_name)
    check(stored.end_date_time is not None and stored.start_date_time is not None, "keyCredential dates", stored)
    ok(f"SDK uploaded a certificate: customKeyIdentifier, displayName {stored.display_name!r}, "
       f"{stored.start_date_time:%Y-%m-%d}..{stored.end_date_time:%Y-%m-%d} from the certificate")

    # Deleted items through the SDK's cast (`graph.application` on the wire).
    await client.applications.by_application_id(app.id).delete()
    deleted = await client.directory.deleted_items.graph_application.get()
    check(any(a.id == app.id for a in deleted.value), "SDK deleted items (graph.application)", deleted)
    one = await client.directory.deleted_items.by_directory_object_id(app.id).get()
    check(isinstance(one, Application) and one.id == app.id, "SDK deleted item as a typed Application", one)
    ok("SDK listed deleted applications (directory/deletedItems/graph.application) and read one as Application")

    # Throttling: a third of Graph requests answered 429 with Retry-After; the SDK's retry
    # handler waits and retries, every call succeeds, and no retry comes early.
    control("PUT", "/faults", {"throttle_rate": 0.35, "seed": 7})
    before = control("GET", "/stats")
    try:
        for _ in range(8):
            r = await client.service_principals_with_app_id(GRAPH_APP_ID).get()
            check(r.app_id == GRAPH_APP_ID, "SDK read under throttling", r)
    finally:
        control("PUT", "/faults", {})
    after = control("GET", "/stats")
    throttled = after["faults"]["throttle"] - before["faults"]["throttle"]
    check(throttled > 0, "some requests were throttled", after["faults"])
    check(after["retry_after_violations"] == 0, "no retry before Retry-After", after)
    ok(f"SDK retry handler absorbed {throttled} 429s with Retry-After, no early retry")
    return public.app_id, cert_app.app_id, (cert, key_pem, pem_path, pfx_path)


def main():
    cred = client_credentials()
    public_client, cert_app_id, cert_material = asyncio.run(sdk(cred))
    certificate_sign_ins(cert_app_id, *cert_material)
    scopes = ["https://graph.microsoft.com/User.Read"]
    device_code_flows(public_client, scopes)
    app, r = device_code(public_client, "organizations", "approve", scopes)
    check("access_token" in r, "device code through /organizations", r)
    check(claims(r["access_token"])["tid"] == TENANT, "tenant of an /organizations sign-in", r)
    ok("MSAL device code through /organizations (multi-tenant app)")
    print(f"{len(passed)} checks passed", flush=True)


if __name__ == "__main__":
    main()
