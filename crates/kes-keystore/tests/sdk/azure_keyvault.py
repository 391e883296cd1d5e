"""Checks the Azure Key Vault FAKE (kes_keystore::azure::fake) with
Microsoft's official Python clients (azure-identity, azure-keyvault-secrets):
what the SDK does against the fake must succeed or fail as it would against
Key Vault. Run by crates/kes-keystore/tests/azure.rs, which starts the fake
and passes: VAULT_URL TENANT CLIENT_ID CLIENT_SECRET. The fake's CA is in
REQUESTS_CA_BUNDLE; AZURE_AUTHORITY_HOST points at the fake.

Prints one line per check; exits non-zero on the first failure.
"""
import os
import sys

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient


def check(what, cond):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        sys.exit(1)


def main():
    vault, tenant, client_id, secret = sys.argv[1:5]
    authority = os.environ["AZURE_AUTHORITY_HOST"]
    cred = ClientSecretCredential(
        tenant, client_id, secret, authority=authority, disable_instance_discovery=True
    )
    # The vault runs on 127.0.0.1, not *.vault.azure.net: the SDK's check
    # of the challenge's resource against the vault's domain is turned off.
    client = SecretClient(
        vault, cred, api_version="7.5", verify_challenge_resource=False
    )

    s = client.set_secret("sdk-key", "c2VjcmV0LXZhbHVl")
    check("set_secret returns the value and a version id", s.value == "c2VjcmV0LXZhbHVl" and bool(s.properties.version))
    got = client.get_secret("sdk-key")
    check("get_secret (latest) returns the value", got.value == "c2VjcmV0LXZhbHVl")
    got = client.get_secret("sdk-key", s.properties.version)
    check("get_secret (version) returns the value", got.value == "c2VjcmV0LXZhbHVl")
    client.set_secret("sdk-key", "c2Vjb25k")
    versions = list(client.list_properties_of_secret_versions("sdk-key"))
    check("two versions are listed", len(versions) == 2)
    for i in range(5):
        client.set_secret(f"sdk-other-{i}", "eA==")
    names = sorted(p.name for p in client.list_properties_of_secrets())
    check("the listing pages through every secret", names == ["sdk-key"] + [f"sdk-other-{i}" for i in range(5)])

    try:
        client.get_secret("sdk-missing")
        check("get_secret of a missing secret fails", False)
    except ResourceNotFoundError:
        check("get_secret of a missing secret is ResourceNotFoundError", True)

    poller = client.begin_delete_secret("sdk-key")
    deleted = poller.result()
    check("begin_delete_secret completes", deleted.name == "sdk-key")
    try:
        client.set_secret("sdk-key", "eA==")
        check("set_secret on a soft-deleted secret fails", False)
    except ResourceExistsError as e:
        check("set_secret on a soft-deleted secret is a 409 conflict", e.status_code == 409)
    client.purge_deleted_secret("sdk-key")
    try:
        client.get_secret("sdk-key")
        check("a purged secret is gone", False)
    except ResourceNotFoundError:
        check("a purged secret is gone", True)
    s = client.set_secret("sdk-key", "bmV3")
    check("set_secret after the purge creates the secret again", s.value == "bmV3")

    try:
        client.set_secret("sdk_underscore", "eA==")
        check("a name with '_' is refused", False)
    except HttpResponseError as e:
        check("a name with '_' is refused with 400", e.status_code == 400)

    bad = ClientSecretCredential(
        tenant, client_id, "wrong-secret", authority=authority, disable_instance_discovery=True
    )
    try:
        SecretClient(vault, bad, api_version="7.5", verify_challenge_resource=False).get_secret("sdk-key")
        check("a wrong client secret fails", False)
    except ClientAuthenticationError:
        check("a wrong client secret is ClientAuthenticationError", True)


if __name__ == "__main__":
    main()
