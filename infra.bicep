// LLM Proxy on Azure, in one template.
//
//   az deployment group create -g RG -f infra.bicep -p adminKey=... keyPepper=...
//
// What it creates (all in the resource group's region unless `location` says otherwise):
//   - a Flex Consumption plan (FC1, Linux) and the Function App (Python 3.11) that runs the gateway
//   - its storage account (deployment package container, host state), no shared keys
//   - Log Analytics and Application Insights (Entra-authenticated ingestion, no instrumentation key use)
//   - Cosmos DB for NoSQL, serverless (or provisioned autoscale: cosmosAutoscaleMaxThroughput): the database and the containers the store uses
//   - Event Hubs: the namespace, the jobs hub and the worker's consumer group
//   - Web PubSub: the realtime hub, whose event handler is the Function App's Web PubSub webhook
//   - Key Vault (RBAC mode) for the admin key, the key pepper and provider secrets
//   - one user-assigned managed identity with data-plane roles on each of the above, and nothing else
//
// Every connection is identity-based: no account key or connection string is created, stored or
// output. Local authentication (keys) is switched off on Cosmos DB, Event Hubs, Web PubSub, Storage
// and Application Insights, so a leaked key could not be used even if one were issued.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

@description('Azure region for every resource.')
param location string = resourceGroup().location

@description('Short prefix for resource names (lowercase letters and digits).')
@minLength(3)
@maxLength(11)
param baseName string = 'llmproxy'

@description('Suffix that makes global names unique; the default is stable for this resource group.')
param nameSuffix string = uniqueString(resourceGroup().id)

param functionAppName string = '${baseName}-func-${nameSuffix}'
param planName string = '${baseName}-plan-${nameSuffix}'
param storageAccountName string = take(toLower('${baseName}st${nameSuffix}'), 24)
param identityName string = '${baseName}-id-${nameSuffix}'
param logAnalyticsName string = '${baseName}-logs-${nameSuffix}'
param appInsightsName string = '${baseName}-ai-${nameSuffix}'
param cosmosAccountName string = '${baseName}-cosmos-${nameSuffix}'
param eventHubsNamespaceName string = '${baseName}-ehns-${nameSuffix}'
param webPubSubName string = '${baseName}-wps-${nameSuffix}'
param keyVaultName string = take('${baseName}-kv-${nameSuffix}', 24)

@description('Cosmos DB database the store uses (COSMOS_DATABASE).')
param cosmosDatabaseName string = 'llmproxy'

@description('Cosmos DB capacity. 0 (default): a serverless account (pay per request; at most 5,000 RU/s per container until it holds over 250 GB). Above 0: a provisioned account whose database shares autoscale throughput scaling between a tenth of this and this many RU/s (a multiple of 1,000, at least 1,000), for tenants past what serverless serves (docs/scale.md). Chosen when the account is created: Azure does not turn a provisioned account serverless.')
@minValue(0)
param cosmosAutoscaleMaxThroughput int = 0

@description('Event hub the async chat jobs go through.')
param jobsHubName string = 'chat-jobs'

@description('Consumer group the jobs worker reads with (its own, so other readers never steal its partitions).')
param jobsConsumerGroupName string = 'jobs-worker'

@description('Partitions of the jobs hub: the upper bound on parallel worker instances. Fixed once created on Standard.')
@minValue(1)
@maxValue(32)
param jobsHubPartitionCount int = 4

@description('Web PubSub hub for realtime sessions: the HUB the trigger functions are bound to.')
param webPubSubHubName string = 'realtime'

@description('Storage redundancy.')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS'])
param storageSku string = 'Standard_LRS'

@description('Event Hubs tier. Basic has no consumer groups besides $Default, so Standard is the minimum.')
@allowed(['Standard', 'Premium'])
param eventHubsSku string = 'Standard'

@description('Event Hubs throughput units (Standard) or processing units (Premium).')
@minValue(1)
param eventHubsCapacity int = 1

@description('Web PubSub tier: Free_F1 (20 connections, for trying it out), Standard_S1, Premium_P1.')
@allowed(['Free_F1', 'Standard_S1', 'Premium_P1'])
param webPubSubSku string = 'Standard_S1'

@description('Web PubSub units.')
@minValue(1)
param webPubSubCapacity int = 1

@description('Key Vault tier.')
@allowed(['standard', 'premium'])
param keyVaultSku string = 'standard'

@description('Flex Consumption: most instances the app may scale out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Flex Consumption: memory per instance. 2048 MB leaves room for LiteLLM (~200 MB once imported).')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Concurrent HTTP requests per instance. The gateway is async and I/O bound (it waits on providers), so one instance serves many at once.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 16

@description('Always-ready HTTP instances (0 = scale to zero; 1+ removes cold starts at a standing cost).')
@minValue(0)
param alwaysReadyHttpInstances int = 0

@description('Days Log Analytics keeps data.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Share of requests traced to Application Insights, 0 to 1 (LLMPROXY_TRACE_SAMPLE_RATIO).')
param traceSampleRatio string = '1.0'

@description('Hosts webhooks may reach although they resolve to private addresses (comma-separated; LLMPROXY_WEBHOOK_ALLOW_HOSTS). Empty: public HTTPS hosts only.')
param webhookAllowHosts string = ''

@description('Default chat model for realtime sessions (LLMPROXY_REALTIME_CHAT_MODEL), a catalog id.')
param realtimeChatModel string = ''

@description('Default transcription model for realtime sessions (LLMPROXY_REALTIME_TRANSCRIPTION_MODEL).')
param realtimeTranscriptionModel string = ''

@description('Default speech model for realtime sessions (LLMPROXY_REALTIME_SPEECH_MODEL).')
param realtimeSpeechModel string = ''

@description('Client id of the Entra ID app registration that signs admins in to the console (/console/) through App Service Authentication. Empty: no Entra sign-in (the console takes the admin key). docs/console.md')
param consoleEntraClientId string = ''

@description('Tenant of that app registration.')
param consoleEntraTenantId string = subscription().tenantId

@description('App role (of that registration) whose members are admins (LLMPROXY_ENTRA_ADMIN_ROLES).')
param consoleAdminRole string = 'LLMProxy.Admin'

@description('Object id of an Entra group whose members are admins too (LLMPROXY_ENTRA_ADMIN_GROUPS; the registration must emit group claims). Empty: the app role only.')
param consoleAdminGroup string = ''

@description('Days usage rows are kept in Cosmos DB (0 = forever). Matches LLMPROXY_USAGE_RETENTION_DAYS.')
@minValue(0)
param usageRetentionDays int = 0

@description('Days stored Responses API responses are kept (Cosmos `ttl`). Matches LLMPROXY_RESPONSES_RETENTION_DAYS.')
@minValue(1)
param responsesRetentionDays int = 30

@description('''Set to true on the second deployment, after the code has been published once: the Web
PubSub event handler needs the Function App's `webpubsub_extension` system key, which the
Functions host creates only when the Web PubSub extension first loads.''')
param connectWebPubSubHandler bool = false

@description('Object id of a user or group that administers the gateway (imports the catalog, writes Key Vault secrets). Empty: none.')
param operatorPrincipalId string = ''

@description('Principal type of operatorPrincipalId.')
@allowed(['User', 'Group', 'ServicePrincipal'])
param operatorPrincipalType string = 'User'

@description('Azure OpenAI endpoint the example catalog uses (AZURE_OPENAI_ENDPOINT), e.g. https://NAME.openai.azure.com. Not a secret.')
param azureOpenAiEndpoint string = ''

@description('Google Cloud project for Vertex AI models (VERTEX_PROJECT).')
param vertexProject string = ''

@description('Vertex AI region for Gemini (VERTEX_LOCATION).')
param vertexLocation string = 'us-central1'

@description('Vertex AI region for Claude (VERTEX_CLAUDE_LOCATION).')
param vertexClaudeLocation string = 'us-east5'

// Secrets: written to Key Vault when given, never to app settings or outputs. Leave them empty on
// later deployments to keep what Key Vault already holds (the pepper must never change: every
// stored key hash depends on it).
@secure()
@description('Admin API key (LLMPROXY_ADMIN_KEY). Give it on the first deployment; empty keeps the stored one.')
param adminKey string = ''

@secure()
@description('HMAC pepper for stored key hashes (LLMPROXY_KEY_PEPPER). First deployment only; never change it.')
param keyPepper string = ''

@secure()
@description('Azure OpenAI API key (AZURE_OPENAI_API_KEY). Empty: keep the stored one, or use Entra auth instead.')
param azureOpenAiApiKey string = ''

@secure()
@description('Vertex AI service-account key JSON (VERTEX_CREDENTIALS). Empty: keep the stored one.')
param vertexCredentials string = ''

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

// Built-in role definitions (the same GUIDs in every tenant).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975'
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
  webPubSubServiceOwner: '12cf5a90-567b-43ae-8102-96cf46c7d9b4'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// Cosmos DB's own data-plane role (not an Azure RBAC role): read and write items, no control plane.
var cosmosDataContributorRoleId = '00000000-0000-0000-0000-000000000002'

// The containers `shared/store/cosmos_support.py` (CONTAINERS) expects, with its partition keys.
// `expiring` containers get defaultTtl -1: expiry on, no default, so only documents that carry
// their own `ttl` (usage retention, job and session lifetimes) expire. `indexed: true`: Cosmos's
// default policy (every property). `indexed: false`: only `includedPaths` are indexed (none for
// counters and limits, only ever point-read and written by id), which makes each write cheaper:
// a write's RU grow with the properties it indexes, and usage rows are written per request,
// sessions and audio chunks per audio frame (docs/scale.md). `ContainerSpec.index` in
// cosmos_support.py says the same for COSMOS_CREATE_IF_MISSING.
var cosmosContainers = [
  {
    name: 'models'
    partitionKey: '/id'
    indexed: true
    includedPaths: []
    expiring: false
  }
  {
    name: 'keys'
    partitionKey: '/id'
    indexed: true
    includedPaths: []
    expiring: false
  }
  {
    name: 'usage'
    partitionKey: '/project'
    indexed: false
    includedPaths: [
      {
        path: '/project/?'
      }
      {
        path: '/created_at/?'
      }
      {
        path: '/expires_at/?'
      }
    ]
    expiring: true
  }
  {
    name: 'usage_hourly'
    partitionKey: '/project'
    indexed: true
    includedPaths: []
    expiring: false
  }
  {
    name: 'usage_daily'
    partitionKey: '/project'
    indexed: true
    includedPaths: []
    expiring: false
  }
  {
    name: 'counters'
    partitionKey: '/id'
    indexed: false
    includedPaths: []
    expiring: true
  }
  {
    name: 'limits'
    partitionKey: '/id'
    indexed: false
    includedPaths: []
    expiring: false
  }
  {
    name: 'jobs'
    partitionKey: '/project'
    indexed: true
    includedPaths: []
    expiring: true
  }
  {
    name: 'job_results'
    partitionKey: '/project'
    indexed: true
    includedPaths: []
    expiring: true
  }
  {
    name: 'webhook_secrets'
    partitionKey: '/id'
    indexed: true
    includedPaths: []
    expiring: false
  }
  {
    name: 'rt_sessions'
    partitionKey: '/id'
    indexed: false
    includedPaths: [
      {
        path: '/project/?'
      }
    ]
    expiring: true
  }
  {
    name: 'rt_audio'
    partitionKey: '/session_id'
    indexed: false
    includedPaths: [
      {
        path: '/session_id/?'
      }
    ]
    expiring: true
  }
  {
    name: 'responses'
    partitionKey: '/project'
    indexed: true
    includedPaths: []
    expiring: true
  }
]

var deploymentContainerName = 'app-package-${toLower(take(functionAppName, 32))}'
// The containers shared/files/storage.py names (CONTAINERS); the code never creates them in Azure.
var fileContainerNames = [
  'batch'
  'user-data'
  'batch-output'
  'batches'
]

// Key Vault secret names, and the app settings that reference them.
var secretNames = {
  adminKey: 'llmproxy-admin-key'
  keyPepper: 'llmproxy-key-pepper'
  azureOpenAiApiKey: 'azure-openai-api-key'
  vertexCredentials: 'vertex-credentials'
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
}

// ---------------------------------------------------------------------------------------------
// Monitoring
// ---------------------------------------------------------------------------------------------

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    // Ingestion only with an Entra token (the identity's Monitoring Metrics Publisher role): the
    // instrumentation key inside the connection string alone can no longer write telemetry.
    DisableLocalAuth: true
  }
}

// ---------------------------------------------------------------------------------------------
// Storage: the Functions host's state and the deployment package
// ---------------------------------------------------------------------------------------------

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  kind: 'StorageV2'
  sku: {
    name: storageSku
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }

  resource blobServices 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }

    // Files and batches (docs/batch.md), a container per purpose: uploads for batches, uploads
    // kept as plain data, the batches' output and error files, and the batch state documents.
    // The identity's Blob Data Owner assignment on this account (storageBlobForApp) covers them.
    resource filesContainers 'containers' = [for name in fileContainerNames: {
      name: name
      properties: {
        publicAccess: 'None'
      }
    }]
  }
}

// ---------------------------------------------------------------------------------------------
// Cosmos DB (NoSQL, serverless)
// ---------------------------------------------------------------------------------------------

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: cosmosAccountName
  location: location
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    capabilities: cosmosAutoscaleMaxThroughput == 0 ? [
      {
        name: 'EnableServerless'
      }
    ] : []
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    // Entra-only data plane: account keys cannot read or write data.
    disableLocalAuth: true
    // Containers come from this template, never from the app (COSMOS_CREATE_IF_MISSING stays off).
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
  }

  resource database 'sqlDatabases' = {
    name: cosmosDatabaseName
    properties: {
      resource: {
        id: cosmosDatabaseName
      }
      options: cosmosAutoscaleMaxThroughput == 0 ? {} : {
        autoscaleSettings: {
          maxThroughput: cosmosAutoscaleMaxThroughput
        }
      }
    }
  }
}

resource cosmosContainerResources 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [for c in cosmosContainers: {
  parent: cosmos::database
  name: c.name
  properties: {
    resource: union({
      id: c.name
      partitionKey: {
        paths: [
          c.partitionKey
        ]
        kind: 'Hash'
      }
    }, (c.expiring) ? {
      defaultTtl: -1
    } : {}, (c.indexed) ? {} : {
      // Only `includedPaths`. Not indexingMode 'none' (to index nothing): Cosmos refuses TTL on
      // such a container, so consistent mode with every other path excluded.
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: c.includedPaths
        excludedPaths: [
          {
            path: '/*'
          }
        ]
      }
    })
  }
}]

// Account scope: the SDKs read the account's metadata (regions, partition map) before any item
// call, and that read is checked at the account. The account holds only this gateway's database.
resource cosmosDataRoleForApp 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: cosmos
  name: guid(cosmos.id, identity.id, cosmosDataContributorRoleId)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributorRoleId}'
    principalId: identity.properties.principalId
    scope: cosmos.id
  }
}

resource cosmosDataRoleForOperator 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = if (!empty(operatorPrincipalId)) {
  parent: cosmos
  name: guid(cosmos.id, operatorPrincipalId, cosmosDataContributorRoleId)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributorRoleId}'
    principalId: operatorPrincipalId
    scope: cosmos.id
  }
}

// ---------------------------------------------------------------------------------------------
// Event Hubs: async chat jobs
// ---------------------------------------------------------------------------------------------

resource eventHubs 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: eventHubsNamespaceName
  location: location
  sku: {
    name: eventHubsSku
    tier: eventHubsSku
    capacity: eventHubsCapacity
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }

  resource jobsHub 'eventhubs' = {
    name: jobsHubName
    properties: {
      partitionCount: jobsHubPartitionCount
      messageRetentionInDays: 1
    }

    resource workerGroup 'consumergroups' = {
      name: jobsConsumerGroupName
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Web PubSub: realtime sessions
// ---------------------------------------------------------------------------------------------

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' = {
  name: webPubSubName
  location: location
  sku: {
    name: webPubSubSku
    capacity: webPubSubCapacity
  }
  properties: {
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

// The hub sends client events to the Functions host's Web PubSub extension endpoint,
//   https://{app}.azurewebsites.net/runtime/webhooks/webpubsub?code={system key}
// which authorizes the call with the `webpubsub_extension` system key. `listKeys` on the app's
// host returns it, but the host creates that key only once the code (with its Web PubSub trigger)
// has been published and started: hence the second deployment with connectWebPubSubHandler=true.
// The key lands in the hub's configuration only (Web PubSub stores it as part of the URL); it is
// never an app setting or an output.
resource webPubSubHub 'Microsoft.SignalRService/webPubSub/hubs@2024-03-01' = if (connectWebPubSubHandler) {
  parent: webPubSub
  name: webPubSubHubName
  properties: {
    anonymousConnectPolicy: 'deny'
    eventHandlers: [
      {
        urlTemplate: 'https://${functionApp.properties.defaultHostName}/runtime/webhooks/webpubsub?code=${listKeys('${functionApp.id}/host/default', '2024-04-01').systemKeys.webpubsub_extension}'
        userEventPattern: '*'
        systemEvents: [
          'connect'
          'connected'
          'disconnected'
        ]
      }
    ]
  }
}

// ---------------------------------------------------------------------------------------------
// Key Vault: the admin key, the key pepper and provider secrets
// ---------------------------------------------------------------------------------------------

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: keyVaultSku
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource adminKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(adminKey)) {
  parent: keyVault
  name: secretNames.adminKey
  properties: {
    value: adminKey
  }
}

resource keyPepperSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(keyPepper)) {
  parent: keyVault
  name: secretNames.keyPepper
  properties: {
    value: keyPepper
  }
}

resource azureOpenAiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(azureOpenAiApiKey)) {
  parent: keyVault
  name: secretNames.azureOpenAiApiKey
  properties: {
    value: azureOpenAiApiKey
  }
}

resource vertexCredentialsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(vertexCredentials)) {
  parent: keyVault
  name: secretNames.vertexCredentials
  properties: {
    value: vertexCredentials
    contentType: 'application/json'
  }
}

// ---------------------------------------------------------------------------------------------
// The Function App (Flex Consumption, Linux, Python 3.11)
// ---------------------------------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the user-assigned identity (there is no system identity).
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
        alwaysReady: (alwaysReadyHttpInstances > 0) ? [
          {
            name: 'http'
            instanceCount: alwaysReadyHttpInstances
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
  dependsOn: [
    storage::blobServices::deploymentContainer
  ]
}

// App settings. Flex Consumption takes the runtime from functionAppConfig, so neither
// FUNCTIONS_WORKER_RUNTIME nor FUNCTIONS_EXTENSION_VERSION belongs here. The names are checked
// against what the code reads by tests/test_deploy_consistency.py.
// App Service Authentication ("Easy Auth") with Entra ID, for the console: it signs people in
// at /.auth/login/aad and adds the signed-in user's claims to each request of theirs
// (X-MS-CLIENT-PRINCIPAL), removing any such header a client sent. Anonymous requests still
// pass: the OpenAI-compatible API stays authenticated by project keys, the management API by the
// admin key or an admin's sign-in (shared/platform_identity.py).
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(consoleEntraClientId)) {
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: consoleEntraClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${consoleEntraTenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            consoleEntraClientId
            'api://${consoleEntraClientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: true
      }
    }
  }
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    // The Functions host's own storage, through the managed identity.
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId

    // Telemetry: the host and the worker's OpenTelemetry exporter both authenticate with Entra.
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'

    // Which identity DefaultAzureCredential uses in the code (Cosmos, Event Hubs producer, Web
    // PubSub service client, Azure OpenAI Entra tokens).
    AZURE_CLIENT_ID: identity.properties.clientId

    // The http-fastapi extension (streaming) needs init indexing on Python <= 3.12.
    PYTHON_ENABLE_INIT_INDEXING: '1'

    // The gateway.
    LLMPROXY_STORE: 'cosmos'
    LLMPROXY_ADMIN_KEY: '@Microsoft.KeyVault(SecretUri=${keyVault.properties.vaultUri}secrets/${secretNames.adminKey}/)'
    LLMPROXY_KEY_PEPPER: '@Microsoft.KeyVault(SecretUri=${keyVault.properties.vaultUri}secrets/${secretNames.keyPepper}/)'
    LLMPROXY_MAX_BODY_BYTES: '8388608'
    LLMPROXY_CATALOG_TTL_SECONDS: '30'
    LLMPROXY_KEY_CACHE_TTL_SECONDS: '30'
    LLMPROXY_CONNECT_TIMEOUT_SECONDS: '10'
    LLMPROXY_REQUEST_TIMEOUT_SECONDS: '200'
    LLMPROXY_USAGE_RETENTION_DAYS: string(usageRetentionDays)
    LLMPROXY_RESPONSES_RETENTION_DAYS: string(responsesRetentionDays)
    LLMPROXY_TRACE_SAMPLE_RATIO: traceSampleRatio
    LLMPROXY_MAX_AUDIO_BYTES: '26214400'
    LLMPROXY_FIRST_BYTE_TIMEOUT_SECONDS: '60'
    LLMPROXY_LIMITS_TTL_SECONDS: '10'

    // Console sign-in with Entra ID (authSettings below): who counts as an admin. The app reads
    // the platform's identity header only when App Service Authentication is on (the platform
    // sets WEBSITE_AUTH_ENABLED itself) and these name a role or group.
    LLMPROXY_ENTRA_ADMIN_ROLES: empty(consoleEntraClientId) ? '' : consoleAdminRole
    LLMPROXY_ENTRA_ADMIN_GROUPS: empty(consoleEntraClientId) ? '' : consoleAdminGroup

    // Async chat jobs and their webhooks.
    LLMPROXY_JOB_CONCURRENCY: '8'
    LLMPROXY_JOB_MAX_RETRIES: '3'
    LLMPROXY_JOB_RETRY_BASE_SECONDS: '2'
    LLMPROXY_JOB_MAX_RETRY_AFTER_SECONDS: '60'
    LLMPROXY_JOB_LEASE_SECONDS: '300'
    LLMPROXY_JOB_DEFAULT_TTL_HOURS: '24'
    LLMPROXY_JOB_REQUEUE_AFTER_SECONDS: '900'
    LLMPROXY_WEBHOOK_MAX_ATTEMPTS: '5'
    LLMPROXY_WEBHOOK_RETRY_BASE_SECONDS: '1'
    LLMPROXY_WEBHOOK_TIMEOUT_SECONDS: '10'
    LLMPROXY_WEBHOOK_ALLOW_HOSTS: webhookAllowHosts

    // Files and batches: Blob Storage in this app's storage account, through the identity.
    LLMPROXY_BLOB_ACCOUNT_URL: storage.properties.primaryEndpoints.blob
    // The Functions host refuses HTTP request bodies over 100 MB, so uploads stop below that
    // (less 64 KB for the form's other fields), with the gateway's own 413.
    LLMPROXY_MAX_FILE_BYTES: '104792064'
    LLMPROXY_BATCH_MAX_LINES: '100000'

    // Realtime voice sessions.
    LLMPROXY_REALTIME_CHAT_MODEL: realtimeChatModel
    LLMPROXY_REALTIME_TRANSCRIPTION_MODEL: realtimeTranscriptionModel
    LLMPROXY_REALTIME_SPEECH_MODEL: realtimeSpeechModel
    LLMPROXY_REALTIME_TOKEN_MINUTES: '5'
    LLMPROXY_REALTIME_SESSION_MINUTES: '30'
    LLMPROXY_REALTIME_MAX_BUFFER_SECONDS: '60'

    // Cosmos DB: the store's client (no COSMOS_KEY: DefaultAzureCredential) and the jobs
    // worker's cosmos_db_output binding (connection COSMOS, database %COSMOS_DATABASE%).
    COSMOS_ENDPOINT: cosmos.properties.documentEndpoint
    COSMOS_DATABASE: cosmosDatabaseName
    COSMOS_CREATE_IF_MISSING: 'false'
    COSMOS__accountEndpoint: cosmos.properties.documentEndpoint
    COSMOS__credential: 'managedidentity'
    COSMOS__clientId: identity.properties.clientId

    // Event Hubs: the jobs trigger and the event_hub_output binding (connection LLMPROXY_EVENT_HUB).
    LLMPROXY_EVENT_HUB__fullyQualifiedNamespace: '${eventHubs.name}.servicebus.windows.net'
    LLMPROXY_EVENT_HUB__credential: 'managedidentity'
    LLMPROXY_EVENT_HUB__clientId: identity.properties.clientId
    LLMPROXY_EVENT_HUB_NAME: jobsHubName
    LLMPROXY_EVENT_HUB_CONSUMER_GROUP: jobsConsumerGroupName

    // Web PubSub: the triggers' connection and the service client, both through the identity.
    // The hub name is fixed in the code (shared/realtime/pubsub.py HUB) and matched by
    // webPubSubHubName.
    WebPubSubConnectionString__serviceUri: 'https://${webPubSub.properties.hostName}'
    WebPubSubConnectionString__credential: 'managedidentity'
    WebPubSubConnectionString__clientId: identity.properties.clientId

    // Providers named by catalog/example.json. Secrets are Key Vault references: a reference whose
    // secret does not exist yet stays unresolved, and the gateway treats it as not set.
    AZURE_OPENAI_ENDPOINT: azureOpenAiEndpoint
    AZURE_OPENAI_API_KEY: '@Microsoft.KeyVault(SecretUri=${keyVault.properties.vaultUri}secrets/${secretNames.azureOpenAiApiKey}/)'
    VERTEX_PROJECT: vertexProject
    VERTEX_LOCATION: vertexLocation
    VERTEX_CLAUDE_LOCATION: vertexClaudeLocation
    VERTEX_CREDENTIALS: '@Microsoft.KeyVault(SecretUri=${keyVault.properties.vaultUri}secrets/${secretNames.vertexCredentials}/)'
  }
  dependsOn: [
    // Key Vault references resolve when settings change: the secrets and the role that reads them
    // come first, so the app starts with resolved values.
    adminKeySecret
    keyPepperSecret
    azureOpenAiKeySecret
    vertexCredentialsSecret
    keyVaultSecretsForApp
    storageBlobForApp
    storageQueueForApp
    storageTableForApp
    monitoringForApp
  ]
}

// ---------------------------------------------------------------------------------------------
// Role assignments: the app's identity gets data-plane access to exactly what it uses
// ---------------------------------------------------------------------------------------------

// The host keeps leases, keys and Event Hubs checkpoints in blobs and deploys from the package
// container (Blob Data Owner), and the gateway keeps files and batches in their containers; queues and tables serve the host's internal bookkeeping
// (diagnostic events, blob-trigger receipts) when identity-based AzureWebJobsStorage is used.
resource storageBlobForApp 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageQueueForApp 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageTableForApp 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Sender (HTTP API submits jobs) and Receiver (the trigger), on the jobs hub only.
resource eventHubsSenderForApp 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventHubs::jobsHub.id, identity.id, roles.eventHubsDataSender)
  scope: eventHubs::jobsHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataSender)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource eventHubsReceiverForApp 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventHubs::jobsHub.id, identity.id, roles.eventHubsDataReceiver)
  scope: eventHubs::jobsHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataReceiver)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Mint client tokens, send to connections and groups, close connections.
resource webPubSubOwnerForApp 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(webPubSub.id, identity.id, roles.webPubSubServiceOwner)
  scope: webPubSub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.webPubSubServiceOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Read secret values for Key Vault references; no listing, no writing.
resource keyVaultSecretsForApp 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, identity.id, roles.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Write telemetry to the Entra-only Application Insights resource.
resource monitoringForApp 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The operator sets provider secrets (`az keyvault secret set`) and imports the catalog.
resource keyVaultOfficerForOperator 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(keyVault.id, operatorPrincipalId, roles.keyVaultSecretsOfficer)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// ---------------------------------------------------------------------------------------------
// Outputs: what the next steps need. Never a key, a secret or a connection string.
// ---------------------------------------------------------------------------------------------

output functionAppName string = functionApp.name
output functionAppUrl string = 'https://${functionApp.properties.defaultHostName}'
output openAiBaseUrl string = 'https://${functionApp.properties.defaultHostName}/v1'
output cosmosEndpoint string = cosmos.properties.documentEndpoint
output cosmosDatabase string = cosmosDatabaseName
output eventHubsNamespace string = '${eventHubs.name}.servicebus.windows.net'
output jobsHub string = jobsHubName
output webPubSubEndpoint string = 'https://${webPubSub.properties.hostName}'
output webPubSubHub string = webPubSubHubName
output keyVaultUri string = keyVault.properties.vaultUri
output keyVaultName string = keyVault.name
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
output appInsightsName string = appInsights.name
