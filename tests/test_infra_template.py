"""infra.bicep parses (pycep-parser; no Bicep compiler installs here) and says what we mean: the
resource types and API versions, the Flex Consumption app, identity-only access with the right
built-in roles on the right scopes, and no secret in a parameter default or an output."""
from __future__ import annotations

import re
from typing import Any, Iterator

import pytest

from . import deploy_scan as scan

# Every resource type the template declares, at an API version that exists for it.
API_VERSIONS = {
    "Microsoft.ManagedIdentity/userAssignedIdentities": "2023-01-31",
    "Microsoft.OperationalInsights/workspaces": "2023-09-01",
    "Microsoft.Insights/components": "2020-02-02",
    "Microsoft.Storage/storageAccounts": "2023-05-01",
    "Microsoft.Storage/storageAccounts/blobServices": "2023-05-01",
    "Microsoft.Storage/storageAccounts/blobServices/containers": "2023-05-01",
    "Microsoft.DocumentDB/databaseAccounts": "2024-05-15",
    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases": "2024-05-15",
    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers": "2024-05-15",
    "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments": "2024-05-15",
    "Microsoft.EventHub/namespaces": "2024-01-01",
    "Microsoft.EventHub/namespaces/eventhubs": "2024-01-01",
    "Microsoft.EventHub/namespaces/eventhubs/consumergroups": "2024-01-01",
    "Microsoft.SignalRService/webPubSub": "2024-03-01",
    "Microsoft.SignalRService/webPubSub/hubs": "2024-03-01",
    "Microsoft.KeyVault/vaults": "2023-07-01",
    "Microsoft.KeyVault/vaults/secrets": "2023-07-01",
    "Microsoft.Web/serverfarms": "2024-04-01",
    "Microsoft.Web/sites": "2024-04-01",
    "Microsoft.Web/sites/config": "2024-04-01",
    "Microsoft.Authorization/roleAssignments": "2022-04-01",
}

# Azure built-in role definitions (the same GUID in every tenant).
BUILT_IN_ROLES = {
    "storageBlobDataOwner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "storageQueueDataContributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "storageTableDataContributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "eventHubsDataSender": "2b629674-e913-4c01-ae53-ef4638d8f975",
    "eventHubsDataReceiver": "a638d3c7-ab3a-418d-83e6-5f17a39d4fde",
    "webPubSubServiceOwner": "12cf5a90-567b-43ae-8102-96cf46c7d9b4",
    "keyVaultSecretsUser": "4633458b-17de-408a-b874-0445c86b69e6",
    "keyVaultSecretsOfficer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "monitoringMetricsPublisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}
COSMOS_DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"

# What the app's identity may do, and where: (role, scope resource in the template).
APP_ROLES = {
    ("storageBlobDataOwner", "storage"),
    ("storageQueueDataContributor", "storage"),
    ("storageTableDataContributor", "storage"),
    ("eventHubsDataSender", "eventHubs::jobsHub"),
    ("eventHubsDataReceiver", "eventHubs::jobsHub"),
    ("webPubSubServiceOwner", "webPubSub"),
    ("keyVaultSecretsUser", "keyVault"),
    ("monitoringMetricsPublisher", "appInsights"),
}
OPERATOR_ROLES = {("keyVaultSecretsOfficer", "keyVault")}

SECRET_PARAM = re.compile(r"(key|secret|password|pepper|credentials?|token)$", re.I)


@pytest.fixture(scope="module")
def t() -> dict:
    return scan.template()


def resources(t: dict, type_: str) -> list[dict]:
    return [r for r in t["resources"].values() if r["type"] == type_]


def body(resource: dict) -> dict:
    """A resource's declaration, under its loop or condition wrapper if it has one."""
    config = resource["config"]
    return config["config"] if "loop_type" in config or "condition" in config else config


def strings(node: Any, keys: bool = True) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if keys:
                yield str(key)
            yield from strings(value, keys)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item, keys)


def mentions(node: Any, name: str) -> bool:
    """Whether an expression in `node` refers to the symbol `name` (not a property `x.name`)."""
    word = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)")
    return any(word.search(s) for s in strings(node, keys=False))


def lists_keys(node: Any) -> bool:
    """Whether `node` calls listKeys/listConnectionStrings/list*() (parsed, or inside a string)."""
    if isinstance(node, dict) and node.get("type") == "list_func":
        return True
    if isinstance(node, dict):
        return any(lists_keys(v) for v in node.values())
    if isinstance(node, list):
        return any(lists_keys(v) for v in node)
    return isinstance(node, str) and bool(re.search(r"\blist\w*\(", node))


def accessor(node: Any) -> str:
    """`a.b.c` / `a::b` from pycep's operator tree, for comparing references."""
    if isinstance(node, str):
        return node
    op = node.get("operator") if isinstance(node, dict) else None
    if op and op["type"] in ("property_accessor", "nested_resource_accessor"):
        sep = "." if op["type"] == "property_accessor" else "::"
        return accessor(op["operands"]["operand_1"]) + sep + accessor(op["operands"]["operand_2"])
    return repr(node)


def test_resource_types_and_api_versions(t):
    declared = {}
    for name, resource in t["resources"].items():
        declared.setdefault(resource["type"], set()).add(resource["api_version"])
    assert {k: sorted(v) for k, v in declared.items()} == \
        {k: [v] for k, v in API_VERSIONS.items()}
    assert t["globals"]["scope"]["value"] == "resourceGroup"


def test_flex_consumption_python_311(t):
    [plan] = resources(t, "Microsoft.Web/serverfarms")
    assert body(plan)["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert body(plan)["properties"]["reserved"] is True               # Linux
    [site] = resources(t, "Microsoft.Web/sites")
    site = body(site)
    assert site["kind"] == "functionapp,linux"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    assert set(config["scaleAndConcurrency"]) >= {"maximumInstanceCount", "instanceMemoryMB"}
    assert site["properties"]["httpsOnly"] is True
    assert site["identity"]["type"] == "UserAssigned"
    assert site["properties"]["keyVaultReferenceIdentity"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "identity",
                                                               "operand_2": "id"}}}


def test_every_service_refuses_keys(t):
    [storage] = resources(t, "Microsoft.Storage/storageAccounts")
    assert body(storage)["properties"]["allowSharedKeyAccess"] is False
    assert body(storage)["properties"]["allowBlobPublicAccess"] is False
    for type_ in ("Microsoft.DocumentDB/databaseAccounts", "Microsoft.EventHub/namespaces",
                  "Microsoft.SignalRService/webPubSub"):
        [resource] = resources(t, type_)
        assert body(resource)["properties"]["disableLocalAuth"] is True, type_
    [insights] = resources(t, "Microsoft.Insights/components")
    assert body(insights)["properties"]["DisableLocalAuth"] is True
    assert body(insights)["properties"]["WorkspaceResourceId"]
    [vault] = resources(t, "Microsoft.KeyVault/vaults")
    assert body(vault)["properties"]["enableRbacAuthorization"] is True


def conditional(node: Any) -> dict:
    """The operands of the first `a ? b : c` in pycep's operator tree under `node`."""
    if isinstance(node, dict):
        op = node.get("operator")
        if isinstance(op, dict) and op.get("type") == "conditional":
            return op["operands"]
        for value in node.values():
            found = conditional(value)
            if found:
                return found
    return {}


def test_cosmos_is_serverless_nosql_unless_autoscale_throughput_is_asked_for(t):
    [account] = resources(t, "Microsoft.DocumentDB/databaseAccounts")
    props = body(account)["properties"]
    assert body(account)["kind"] == "GlobalDocumentDB"
    assert t["parameters"]["cosmosAutoscaleMaxThroughput"]["default"] == 0
    assert "cosmosAutoscaleMaxThroughput" in set(strings(props["capabilities"]))
    serverless = conditional(props["capabilities"])
    assert serverless["true_value"] == [{"name": "EnableServerless"}]   # the default, 0
    assert serverless["false_value"] == []
    # Above 0, the database shares that much autoscale throughput among its containers.
    [database] = resources(t, "Microsoft.DocumentDB/databaseAccounts/sqlDatabases")
    options = conditional(body(database)["properties"]["options"])
    assert options["true_value"] == {}
    assert options["false_value"] == {
        "autoscaleSettings": {"maxThroughput": "cosmosAutoscaleMaxThroughput"}}


# Containers declared ahead of their code's `ContainerSpec` (a branch being merged). Each must
# leave this list once cosmos_support.CONTAINERS has it. Empty: every branch has landed.
PENDING_CONTAINERS: dict[str, tuple[str, bool]] = {}


def test_cosmos_containers_are_the_ones_the_store_uses(t):
    from shared.store import cosmos_support
    # `indexed: false` containers index exactly the paths the store's ContainerSpec names.
    declared = {c["name"]: (c["partitionKey"], c["expiring"], c["indexed"],
                            tuple(p["path"] for p in c["includedPaths"]))
                for c in t["variables"]["cosmosContainers"]["value"]}
    wanted = {c.name: (c.partition_key, c.expiring, c.indexed, c.index or ())
              for c in cosmos_support.CONTAINERS}
    assert not set(PENDING_CONTAINERS) & set(wanted), "now in CONTAINERS: drop from PENDING"
    assert declared == {**wanted, **PENDING_CONTAINERS}
    [containers] = resources(t, "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers")
    assert containers["config"]["loop_type"]["detail"]["array_name"] == "cosmosContainers"
    resource = body(containers)["properties"]["resource"]
    assert "defaultTtl" in set(strings(resource)) and "c" in set(strings(resource))
    # Counters index nothing; the policy is the store's own (COSMOS_CREATE_IF_MISSING), and
    # never indexingMode none, which Cosmos refuses on a container with TTL.
    assert cosmos_support.NO_INDEX["indexingMode"] in set(strings(resource))
    assert "/*" in set(strings(resource)) and "none" not in set(strings(resource))
    assert "includedPaths" in set(strings(resource))


def test_event_hub_and_consumer_group(t):
    [ns] = resources(t, "Microsoft.EventHub/namespaces")
    assert body(ns)["sku"]["name"] == "eventHubsSku"
    assert t["parameters"]["eventHubsSku"]["default"] == "Standard"   # Basic has no consumer groups
    [hub] = resources(t, "Microsoft.EventHub/namespaces/eventhubs")
    assert body(hub)["name"] == "jobsHubName"
    [group] = resources(t, "Microsoft.EventHub/namespaces/eventhubs/consumergroups")
    assert body(group)["name"] == "jobsConsumerGroupName"


def test_web_pubsub_hub_calls_the_function_apps_webhook(t):
    [hub] = resources(t, "Microsoft.SignalRService/webPubSub/hubs")
    assert hub["config"]["condition"] == "connectWebPubSubHandler"
    [handler] = body(hub)["properties"]["eventHandlers"]
    url = handler["urlTemplate"]
    assert url.startswith("https://${functionApp.properties.defaultHostName}"
                          "/runtime/webhooks/webpubsub?code=")
    assert "listKeys('${functionApp.id}/host/default'" in url
    assert url.endswith(".systemKeys.webpubsub_extension}")
    assert set(handler["systemEvents"]) == {"connect", "connected", "disconnected"}
    assert handler["userEventPattern"] == "*"
    assert body(hub)["name"] == "webPubSubHubName"
    # The hub the code's Web PubSub bindings use is the one the template configures.
    hubs = {b.get("hub") for _, bindings in scan.raw_bindings() for b in bindings
            if b.get("type", "").startswith("webPubSub")}
    assert hubs <= {t["parameters"]["webPubSubHubName"]["default"]}


def test_role_definitions_are_the_built_in_ones(t):
    assert t["variables"]["roles"]["value"] == BUILT_IN_ROLES
    assert t["variables"]["cosmosDataContributorRoleId"]["value"] == COSMOS_DATA_CONTRIBUTOR


def role_assignments(t: dict) -> list[tuple[str, str, str, dict]]:
    """(role name in `roles`, scope, principal, declaration) for every Azure RBAC assignment."""
    found = []
    for resource in resources(t, "Microsoft.Authorization/roleAssignments"):
        decl = body(resource)
        props = decl["properties"]
        definition = props["roleDefinitionId"]["function"]
        assert definition["type"] == "subscription_resource_id"
        assert definition["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
        role = accessor(definition["parameters"]["resource_name_1"])
        assert role.startswith("roles."), role
        found.append((role[len("roles."):], accessor(decl["scope"]),
                      accessor(props["principalId"]), decl))
    return found


def test_the_app_identity_has_exactly_its_data_plane_roles(t):
    assignments = role_assignments(t)
    app = {(role, scope) for role, scope, principal, _ in assignments
           if principal == "identity.properties.principalId"}
    operator = {(role, scope) for role, scope, principal, _ in assignments
                if principal == "operatorPrincipalId"}
    assert app == APP_ROLES
    assert operator == OPERATOR_ROLES
    assert len(assignments) == len(APP_ROLES) + len(OPERATOR_ROLES)
    for role, scope, principal, decl in assignments:
        # Deterministic names: redeploying never duplicates an assignment.
        name = decl["name"]["function"]
        assert name["type"] == "guid", role
        if principal.startswith("identity."):
            assert decl["properties"]["principalType"] == "ServicePrincipal", role


def test_cosmos_data_role_for_the_app(t):
    assignments = resources(t, "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments")
    principals = set()
    for resource in assignments:
        props = body(resource)["properties"]
        assert props["roleDefinitionId"] == \
            "${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributorRoleId}"
        assert accessor(props["scope"]) == "cosmos.id"
        principals.add(accessor(props["principalId"]))
    assert principals == {"identity.properties.principalId", "operatorPrincipalId"}


def test_no_secret_is_a_plain_parameter_default(t):
    secure = set()
    for name, param in t["parameters"].items():
        decorators = {d["type"] for d in param["decorators"]}
        if "secure" in decorators:
            secure.add(name)
            assert param["default"] in (None, ""), f"@secure() {name} has a default value"
        else:
            assert not SECRET_PARAM.search(name), f"{name} looks secret but is not @secure()"
    assert secure == {"adminKey", "keyPepper", "azureOpenAiApiKey", "vertexCredentials"}


def test_secure_parameters_only_reach_key_vault(t):
    secure = [n for n, p in t["parameters"].items()
              if any(d["type"] == "secure" for d in p["decorators"])]
    for name, resource in t["resources"].items():
        for param in secure:
            if mentions(resource, param):
                assert resource["type"] == "Microsoft.KeyVault/vaults/secrets", (param, name)
    for param in secure:
        assert not mentions(t["variables"], param), param


def test_no_output_carries_a_secret(t):
    assert {"functionAppUrl", "cosmosEndpoint", "eventHubsNamespace", "webPubSubEndpoint",
            "keyVaultUri"} <= set(t["outputs"])
    secure = [n for n, p in t["parameters"].items()
              if any(d["type"] == "secure" for d in p["decorators"])]
    for name, output in t["outputs"].items():
        text = " ".join(strings(output))
        assert not lists_keys(output), name
        assert not re.search(r"connectionstring|secret|primaryKey|instrumentationKey", text,
                             re.I), name
        assert not any(mentions(output, p) for p in secure), name
        assert not any(d["type"] == "secure" for d in output["decorators"]), name


def test_keys_are_listed_only_for_the_web_pubsub_handler(t):
    listing = {name for name, resource in t["resources"].items() if lists_keys(resource)}
    assert listing == {"webPubSubHub"}
    assert not lists_keys(t["variables"])
    text = " ".join(strings(scan.bicep_app_settings()))
    assert not re.search(r"AccountKey=|SharedAccessKey|AccessKey=", text)


def test_files_and_batches_have_their_containers_on_the_app_storage(t):
    """The containers the code uses (it never creates them in Azure), private, in the storage
    account whose blob endpoint the app is given, where the identity holds a blob data role."""
    from shared.files.storage import CONTAINERS
    assert t["variables"]["fileContainerNames"]["value"] == list(CONTAINERS)
    [files] = [r for r in resources(t, "Microsoft.Storage/storageAccounts/blobServices/containers")
               if r["config"].get("loop_type")]
    assert files["config"]["loop_type"]["detail"]["array_name"] == "fileContainerNames"
    assert body(files)["properties"]["publicAccess"] == "None"
    assert accessor(scan.bicep_app_settings()["LLMPROXY_BLOB_ACCOUNT_URL"]) == \
        "storage.properties.primaryEndpoints.blob"
    assert ("storageBlobDataOwner", "storage") in APP_ROLES
