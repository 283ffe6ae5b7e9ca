"""Every setting and binding connection the code reads is defined in infra.bicep's app settings,
in local.settings.example.json and in the docs (README.md, docs/*.md), and neither file nor the docs name a setting nothing reads.

The lists of what the code needs come from the code (see tests/deploy_scan.py), so a setting added
by any later change is checked without touching this file. The only hand-kept lists below are the
exceptions, each with its reason.
"""
from __future__ import annotations

import re

import pytest

from . import deploy_scan as scan
from .deploy_scan import ROOT, defines

# Read by the deployed code but deliberately absent from Azure's app settings.
LOCAL_ONLY = {
    "LLMPROXY_DATA_DIR": "the SQLite store's folder; Azure uses Cosmos DB",
    "COSMOS_KEY": "an account key; Azure uses the managed identity (local auth is off there)",
    "COSMOS_VERIFY_TLS": "only for a local Cosmos test server with a self-signed certificate",
    "WebPubSubConnectionString": "a connection string with an access key; Azure uses the "
                                 "identity-based WebPubSubConnectionString__serviceUri family",
    "LLMPROXY_BLOB_CONNECTION_STRING": "an account key (Azurite's in tests); Azure uses the "
                                       "managed identity with LLMPROXY_BLOB_ACCOUNT_URL",
    "LLMPROXY_BLOB_CREATE_CONTAINERS": "local and tests only; the template creates the containers",
}

# Read by the platform, not by our code: the Functions host, the Python worker, azure-identity.
PLATFORM = {
    "AzureWebJobsStorage": "the Functions host's storage (identity-based family in Azure)",
    "FUNCTIONS_WORKER_RUNTIME": "Core Tools locally; Flex Consumption sets it from functionAppConfig",
    "PYTHON_ENABLE_INIT_INDEXING": "the Python worker; required by the http-fastapi extension",
    "AZURE_CLIENT_ID": "azure-identity: which managed identity DefaultAzureCredential uses",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "the Functions host's Entra auth to App Insights",
}
LOCAL_PLATFORM = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"}

# Settings defined in the template ahead of the code that reads them (a branch being merged).
# Each entry must go as soon as the code reads it (a test enforces it). Empty: all have landed.
PENDING: dict[str, str] = {}

EXAMPLE_CATALOG = ROOT / "catalog" / "example.json"
SIMULATOR_CATALOG = ROOT / "catalog" / "simulator.json"


def code_settings() -> dict[str, list[str]]:
    """Settings the Function App's code reads, with the binding connections and placeholders."""
    found = scan.settings_read(scan.DEPLOYED_CODE)
    connections, placeholders = scan.binding_settings()
    for name, where in {**connections, **placeholders}.items():
        found.setdefault(name, []).extend(f"binding of {w}" for w in where)
    return found


def family(name: str) -> str:
    return name.split("__", 1)[0]


def explained(name: str, known: set[str]) -> bool:
    """Whether a defined setting is read by something: itself, or the family it belongs to."""
    return name in known or family(name) in known


@pytest.fixture(scope="module")
def needed() -> dict[str, list[str]]:
    return code_settings()


def test_the_scan_sees_the_settings_we_know_about(needed):
    # A guard on the scanner itself: if these stop being found, the scan is broken, not the code.
    assert {"LLMPROXY_ADMIN_KEY", "LLMPROXY_KEY_PEPPER", "LLMPROXY_STORE",
            "LLMPROXY_REQUEST_TIMEOUT_SECONDS"} <= set(needed)


def test_every_setting_the_code_reads_is_in_the_template(needed):
    defined = scan.bicep_app_settings()
    missing = {n: w for n, w in needed.items() if n not in LOCAL_ONLY and not defines(defined, n)}
    assert not missing, f"read by the code but not set in infra.bicep: {missing}"


def test_every_setting_the_example_catalog_reads_is_in_the_template():
    defined = scan.bicep_app_settings()
    missing = sorted(n for n in scan.catalog_settings(EXAMPLE_CATALOG) if n not in defined)
    assert not missing, f"catalog/example.json reads settings infra.bicep does not set: {missing}"


def test_every_setting_the_code_reads_is_in_the_local_example(needed):
    local = scan.local_settings()
    catalog = scan.catalog_settings(EXAMPLE_CATALOG)
    missing = sorted(n for n in {*needed, *catalog} if not defines(local, n))
    assert not missing, f"missing from local.settings.example.json: {missing}"


def test_nothing_stale_in_the_template(needed):
    known = {*needed, *PLATFORM, *scan.catalog_settings(EXAMPLE_CATALOG), *PENDING}
    stale = sorted(n for n in scan.bicep_app_settings() if not explained(n, known))
    assert not stale, f"infra.bicep sets settings nothing reads: {stale}"
    local_only_set = sorted(n for n in scan.bicep_app_settings() if n in LOCAL_ONLY)
    assert not local_only_set, f"local-only settings must stay out of Azure: {local_only_set}"


def test_nothing_stale_in_the_local_example(needed):
    known = {*needed, *PLATFORM, *scan.catalog_settings(EXAMPLE_CATALOG), *PENDING,
             *scan.settings_read(scan.LOCAL_CODE)}
    stale = sorted(n for n in scan.local_settings() if not explained(n, known))
    assert not stale, f"local.settings.example.json has settings nothing reads: {stale}"


def test_pending_settings_leave_the_list_once_the_code_reads_them(needed):
    landed = sorted(n for n in PENDING if n in needed)
    assert not landed, f"now read by the code: remove from PENDING in this file: {landed}"


DOCS = (ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md")))


def documented_names() -> set[str]:
    names = set()
    for path in DOCS:
        found = re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)(?:__\*)?`", path.read_text())
        names.update(found, (n.split("__", 1)[0] for n in found))   # `CONN__accountEndpoint`
    return names


def test_the_docs_document_every_setting(needed):
    missing = sorted(n for n in needed if n not in documented_names())
    assert not missing, f"settings neither the README nor docs/*.md names: {missing}"
    table = (ROOT / "docs" / "configuration.md").read_text()
    untabled = sorted(n for n in needed if f"`{n}" not in table)
    assert not untabled, f"settings missing from docs/configuration.md: {untabled}"


# What a setting name looks like in prose and examples: our prefixes and the platform's.
SETTING_SHAPED = re.compile(r"(?<![A-Za-z0-9_.])((?:LLMPROXY|COSMOS|AZURE|VERTEX|APPLICATIONINSIGHTS|"
                            r"SIMULATOR|PYTHON_ENABLE|FUNCTIONS|AzureWebJobs|WebPubSub)"
                            r"[A-Za-z0-9_]*)(?![A-Za-z0-9_*])")
IDENTITY_SUFFIXES = {"accountName", "accountEndpoint", "fullyQualifiedNamespace", "serviceUri",
                     "credential", "clientId"}


def unknown_settings(text: str, known: set[str]) -> set[str]:
    """Setting-shaped names in `text` that nothing reads: a name is known itself, or as a
    connection family with one of the identity-based suffixes (`COSMOS__accountEndpoint`)."""
    unknown = set()
    for name in SETTING_SHAPED.findall(text):
        family, _, suffix = name.partition("__")
        if name in known or (suffix in IDENTITY_SUFFIXES and family in known):
            continue
        unknown.add(name)
    return unknown


def test_the_docs_name_no_setting_that_nothing_reads(needed):
    known = {*needed, *PLATFORM, *LOCAL_ONLY, *scan.settings_read(scan.LOCAL_CODE),
             *scan.catalog_settings(EXAMPLE_CATALOG), *scan.catalog_settings(SIMULATOR_CATALOG),
             *scan.bicep_app_settings(), *scan.local_settings()}
    # The check itself: the name an older README gave for the jobs' Cosmos connection is caught.
    assert unknown_settings("`LLMPROXY_COSMOS__accountEndpoint`", known) == \
        {"LLMPROXY_COSMOS__accountEndpoint"}
    stale = {str(path.relative_to(ROOT)): sorted(found) for path in DOCS
             if (found := unknown_settings(path.read_text(), known))}
    assert not stale, f"the docs name settings nothing reads: {stale}"


def test_connections_in_azure_are_identity_based(needed):
    """No connection string where identity works: each connection family in the template is the
    identity form, with the managed identity named, and never a plain `NAME` connection string."""
    settings = scan.bicep_app_settings()
    families = {family(n) for n in settings if "__" in n}
    assert families >= {"AzureWebJobsStorage"}
    for name in families:
        assert name not in settings, f"{name} is set as a connection string in infra.bicep"
        assert settings.get(f"{name}__credential") == "managedidentity", name
        assert f"{name}__clientId" in settings, name
        endpoints = [n for n in settings if n.startswith(name + "__") and n.split("__")[1] in (
            "accountName", "accountEndpoint", "fullyQualifiedNamespace", "serviceUri")]
        assert len(endpoints) == 1, f"{name}: one endpoint setting expected, got {endpoints}"


SECRET_NAME = re.compile(r"(_KEY|_PEPPER|_SECRET|_PASSWORD|_CREDENTIALS|_TOKEN|CONNECTION_?STRING)$",
                         re.I)
# Not a secret once Application Insights takes Entra-authenticated ingestion only (the template
# sets DisableLocalAuth): the connection string names the resource, it cannot write to it.
NOT_SECRET_IN_AZURE = {"APPLICATIONINSIGHTS_CONNECTION_STRING"}


def test_secrets_in_azure_are_key_vault_references():
    checked = []
    for name, value in scan.bicep_app_settings().items():
        if SECRET_NAME.search(name) and name not in NOT_SECRET_IN_AZURE:
            checked.append(name)
            assert isinstance(value, str) and value.startswith("@Microsoft.KeyVault(SecretUri="), \
                f"{name} must be a Key Vault reference in infra.bicep"
    assert {"LLMPROXY_ADMIN_KEY", "LLMPROXY_KEY_PEPPER"} <= set(checked)


def test_local_example_holds_no_secret_values():
    for name, value in scan.local_settings().items():
        if SECRET_NAME.search(name):
            assert value == "", f"{name} must be empty in local.settings.example.json"


def test_local_example_names_each_setting_once():
    import collections
    import json
    pairs = json.loads((ROOT / "local.settings.example.json").read_text(),
                       object_pairs_hook=lambda p: p)
    counts = collections.Counter(name for name, _ in dict(pairs)["Values"])
    assert not [n for n, c in counts.items() if c > 1], "a setting appears twice (JSON keeps the last)"
