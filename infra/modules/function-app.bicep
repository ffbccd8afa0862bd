// The Functions app on a Flex Consumption plan (Linux, Node), running as the user-assigned identity:
// identity-based AzureWebJobsStorage, Entra-authenticated Application Insights, the deployment package
// read from blob storage with the same identity, no publishing credentials.
param location string
param tags object
param name string
param planName string
@allowed(['20', '22', '24'])
param nodeVersion string
param maximumInstanceCount int
@allowed([2048, 4096])
param instanceMemoryMB int = 2048

param identityId string
param identityClientId string
param identityPrincipalId string

param blobEndpoint string
param queueEndpoint string
param tableEndpoint string
param deploymentContainerName string
param appInsightsConnectionString string

param remediatorMode string
param ruleModes string
param exemptions string
param recreateForeignLocks bool
param sweepSchedule string
param minApiVersion string
param subscriptionIds array
param resourceGroups array
@description('REMEDIATOR_MANAGEMENT_GROUPS (empty: not used).')
param managementGroups array = []
@allowed(['resource-graph', 'arm'])
@description('REMEDIATOR_DISCOVERY.')
param discovery string = 'resource-graph'
param keyVaultUrl string
param keyVaultResourceId string
param grantKeyVaultAccess bool
@description('REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID (empty: resource-logs-enabled is ticketed, not fixed).')
param logAnalyticsWorkspaceId string = ''
param ticketProvider string
param additionalAppSettings object

// Every setting the app reads (src/common/config.ts SETTINGS, src/tickets/config.ts); test/infra checks the names.
var baseAppSettings = {
  // Functions host storage, identity-based (the account has shared keys disabled)
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  AzureWebJobsStorage__queueServiceUri: queueEndpoint
  AzureWebJobsStorage__tableServiceUri: tableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // Application Insights with Entra ID authentication (local auth is disabled on the resource)
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // the identity the app acts as, and its own principal (its events are ignored)
  AZURE_CLIENT_ID: identityClientId
  AZURE_TENANT_ID: tenant().tenantId
  REMEDIATOR_PRINCIPAL_ID: identityPrincipalId
  // what it does, where
  REMEDIATOR_MODE: remediatorMode
  REMEDIATOR_RULE_MODES: ruleModes
  REMEDIATOR_EXEMPTIONS: exemptions
  REMEDIATOR_RECREATE_FOREIGN_LOCKS: recreateForeignLocks ? 'true' : 'false'
  REMEDIATOR_KILL_SWITCH: 'false'
  REMEDIATOR_SUBSCRIPTIONS: join(subscriptionIds, ',')
  REMEDIATOR_RESOURCE_GROUPS: join(resourceGroups, ',')
  REMEDIATOR_MANAGEMENT_GROUPS: join(managementGroups, ',')
  REMEDIATOR_DISCOVERY: discovery
  SWEEP_SCHEDULE: sweepSchedule
  MIN_API_VERSION: minApiVersion
  LOG_LEVEL: 'info'
  // Key Vault migration
  KEY_VAULT_URL: keyVaultUrl
  KEY_VAULT_RESOURCE_ID: keyVaultResourceId
  REMEDIATOR_GRANT_KEY_VAULT_ACCESS: grantKeyVaultAccess ? 'true' : 'false'
  // resource-logs-enabled: the Log Analytics workspace its fix sends resource logs to
  REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: logAnalyticsWorkspaceId
  // tickets (provider settings come in additionalAppSettings)
  TICKET_PROVIDER: ticketProvider
}

var appSettings = union(baseAppSettings, additionalAppSettings)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'remediator'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [for s in items(appSettings): {
        name: s.key
        value: s.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }
}

// No FTP / SCM basic-auth publishing credentials: deployments use Entra ID.
resource ftp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scm 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
