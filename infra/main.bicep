// apim-remediator: the Functions app, its identity and least-privilege permissions, storage,
// monitoring and (after the code is deployed) the Event Grid subscriptions that feed it.
//
//   azd up                                   (azure.yaml; the postdeploy hook runs the second step)
//   az deployment sub create -l <region> -f infra/main.bicep -p environmentName=<env> ...
//
// Two steps, because an Event Grid subscription with an Azure Function destination can only be created
// once the function exists: deploy with deployEventSubscriptions=false, deploy the code, deploy again
// with deployEventSubscriptions=true (docs/operations.md).
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('Name of the environment (azd); used in resource names and tags.')
param environmentName string

@minLength(1)
@description('Region of the app and its resources (a region that offers Flex Consumption).')
param location string

@description('Resource group of the app. Default: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Subscriptions the remediator watches and fixes, comma-separated (REMEDIATOR_SUBSCRIPTIONS). Default: the deployment subscription.')
param targetSubscriptions string = ''

@description('Resource groups in scope within those subscriptions, comma-separated (REMEDIATOR_RESOURCE_GROUPS). Empty: all. When set, the custom role is assigned at these resource groups instead of the subscriptions, and they must exist in every target subscription.')
param targetResourceGroups string = ''

@description('Leave REMEDIATOR_SUBSCRIPTIONS empty so the app covers every subscription its identity can see (with the role assigned at a management group, infra/management-group.bicep). The target subscriptions still get the Event Grid subscriptions.')
param scanAllVisibleSubscriptions bool = false

@description('Assign the custom role at the target subscriptions / resource groups. Turn off when it is assigned at a management group (infra/management-group.bicep).')
param assignRoleAtTargets bool = true

@description('REMEDIATOR_MANAGEMENT_GROUPS: management group ids, comma-separated; discovery covers every subscription below them (child groups included) through Resource Graph, and REMEDIATOR_SUBSCRIPTIONS is left empty. The role and the Event Grid subscriptions there come from infra/management-group.bicep with the same ids. Empty: not used.')
param managementGroupIds string = ''

@allowed(['resource-graph', 'arm'])
@description('REMEDIATOR_DISCOVERY: resource-graph (one paged Resource Graph query per sweep; ARM listing where it is unavailable, with a warning) or arm (list per subscription).')
param discovery string = 'resource-graph'

@allowed(['dry-run', 'enforce'])
@description('REMEDIATOR_MODE: roll out in dry-run first.')
param remediatorMode string = 'dry-run'

@description('REMEDIATOR_RULE_MODES, e.g. resource-lock=enforce,api-https-only=dry-run (empty: rules follow the mode). An opt-in fix\'s own writes (backends/write for backend-certificate-validation=enforce) are granted only when it is set to enforce here.')
param ruleModes string = ''

@description('REMEDIATOR_EXEMPTIONS: exemptions kept in the app settings, for services the exemption tag cannot be written on (a ReadOnly lock), e.g. apim-contoso-prod=gateway-tls-protocols@2026-06-30; /subscriptions/.../service/apim-x=*')
param exemptions string = ''

@description('REMEDIATOR_RECREATE_FOREIGN_LOCKS: also re-create deleted ReadOnly locks the remediator did not create (default: reported, not re-created).')
param recreateForeignLocks bool = false

@description('SWEEP_SCHEDULE (NCRONTAB, six fields).')
param sweepSchedule string = '0 0 */6 * * *'

@description('MIN_API_VERSION for the min-api-version rule.')
param minApiVersion string = '2021-08-01'

@description('Include the write actions in the custom role. False gives a read-only role: enough for dry-run, not for enforce.')
param grantWriteActions bool = true

@description('ARM id of an existing Key Vault (RBAC authorization) that receives migrated secrets. Empty: a new vault is created in the app resource group.')
param keyVaultResourceId string = ''

@description('Let the remediator grant each APIM identity Key Vault Secrets User on its migrated secrets (through the generated grants role on the vault, constrained to that role). False: grants are made by hand and the remediator only checks them.')
param grantKeyVaultAccess bool = true

@description('REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID: ARM id of the Log Analytics workspace resource-logs-enabled sends resource logs to. When set (and grantWriteActions), the app gets the generated destination role on that workspace (workspaces/read, sharedKeys/action). Empty: that fix is blocked and ticketed.')
param logAnalyticsWorkspaceId string = ''

@allowed(['none', 'webhook', 'github', 'azure-devops', 'jira', 'servicenow'])
@description('TICKET_PROVIDER. Put the provider\'s TICKET_* settings in additionalAppSettings (secrets as @Microsoft.KeyVault(SecretUri=...) references).')
param ticketProvider string = 'none'

@description('More app settings (e.g. TICKET_* settings, LOG_LEVEL, REMEDIATOR_MAX_WRITES_PER_SERVICE).')
param additionalAppSettings object = {}

@description('Second step: create the Event Grid system topics and subscriptions (needs the function code deployed).')
param deployEventSubscriptions bool = false

@description('Resource group (created in each target subscription) that holds its Event Grid system topic.')
param eventsResourceGroupName string = ''

@description('Subscriptions that already have a Microsoft.Resources.Subscriptions system topic (only one is allowed per subscription): { "<subscriptionId>": "<resourceGroup>/<topicName>" }. The events identity must be assigned to such a topic.')
param existingSystemTopics object = {}

@allowed(['20', '22', '24'])
@description('Node.js version of the Functions runtime (Flex Consumption functionAppConfig.runtime.version). 22 by default: Node 20 reached end of life on 2026-04-30; 24 where the region offers it (`Get-AzFunctionAppFlexConsumptionRuntime -Location <region> -Runtime node`).')
param nodeVersion string = '22'

@description('Resource id of an action group the alert rules (poisoned evaluations, failed remediations) notify; empty: they fire in Azure Monitor > Alerts only.')
param alertActionGroupId string = ''

@description('Maximum instances of the Flex Consumption app.')
param maximumInstanceCount int = 40

@description('Object id of the person deploying (azd sets AZURE_PRINCIPAL_ID); gets read access to the app\'s storage for troubleshooting. Empty: none.')
param deployerPrincipalId string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'apim-remediator'
}
var rgName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
var eventsRgName = empty(eventsResourceGroupName) ? '${rgName}-events' : eventsResourceGroupName
var subscriptionIds = empty(targetSubscriptions) ? [subscription().subscriptionId] : split(replace(targetSubscriptions, ' ', ''), ',')
var resourceGroupNames = empty(targetResourceGroups) ? [] : split(replace(targetResourceGroups, ' ', ''), ',')
var managementGroupList = empty(managementGroupIds) ? [] : split(replace(managementGroupIds, ' ', ''), ',')
var functionAppName = 'func-apimrem-${resourceToken}'
var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'eventgrid-deadletter'
var createKeyVault = empty(keyVaultResourceId)
var keyVaultName = createKeyVault ? 'kv-apimrem-${take(resourceToken, 11)}' : last(split(keyVaultResourceId, '/'))
var keyVaultSubscriptionId = createKeyVault ? subscription().subscriptionId : split(keyVaultResourceId, '/')[2]
var keyVaultResourceGroup = createKeyVault ? rgName : split(keyVaultResourceId, '/')[4]
var keyVaultId = createKeyVault ? '/subscriptions/${subscription().subscriptionId}/resourceGroups/${rgName}/providers/Microsoft.KeyVault/vaults/${keyVaultName}' : keyVaultResourceId
var keyVaultUrl = 'https://${keyVaultName}${environment().suffixes.keyvaultDns}'
var logAnalyticsWorkspaceParts = split(logAnalyticsWorkspaceId, '/')

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: rgName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    appIdentityName: 'id-apimrem-${resourceToken}'
    eventsIdentityName: 'id-apimrem-events-${resourceToken}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'stapimrem${take(resourceToken, 13)}'
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
    appPrincipalId: identity.outputs.appPrincipalId
    eventsPrincipalId: identity.outputs.eventsPrincipalId
    deployerPrincipalId: deployerPrincipalId
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    workspaceName: 'log-apimrem-${resourceToken}'
    appInsightsName: 'appi-apimrem-${resourceToken}'
    appPrincipalId: identity.outputs.appPrincipalId
    alertActionGroupId: alertActionGroupId
  }
}

module keyVault 'modules/key-vault.bicep' = if (createKeyVault) {
  name: 'key-vault'
  scope: rg
  params: {
    location: location
    tags: tags
    name: keyVaultName
  }
}

module keyVaultAccess 'modules/key-vault-access.bicep' = {
  name: 'key-vault-access-${resourceToken}'
  scope: resourceGroup(keyVaultSubscriptionId, keyVaultResourceGroup)
  dependsOn: [keyVault]
  params: {
    keyVaultName: keyVaultName
    principalId: identity.outputs.appPrincipalId
    grantKeyVaultAccess: grantKeyVaultAccess
    roleNameSuffix: environmentName
  }
}

// resource-logs-enabled links diagnostic settings to the configured workspace: ARM checks the link there, so the grant
// is on that workspace alone (a read-only deployment writes no diagnostic setting and gets none)
module logAnalyticsAccess 'modules/log-analytics-access.bicep' = if (!empty(logAnalyticsWorkspaceId) && grantWriteActions) {
  name: 'log-analytics-access-${resourceToken}'
  scope: resourceGroup(empty(logAnalyticsWorkspaceId) ? subscription().subscriptionId : logAnalyticsWorkspaceParts[2], empty(logAnalyticsWorkspaceId) ? rgName : logAnalyticsWorkspaceParts[4])
  params: {
    workspaceName: empty(logAnalyticsWorkspaceId) ? '' : last(logAnalyticsWorkspaceParts)
    principalId: identity.outputs.appPrincipalId
    roleNameSuffix: environmentName
  }
}

// Assignable (and assigned) only where the remediator works: the target resource groups when they are listed,
// else the target subscriptions. locks/write has no narrower scope than that: ARM conditions do not cover locks.
module role 'modules/remediator-role.bicep' = {
  name: 'remediator-role'
  params: {
    roleName: 'APIM Remediator (${environmentName})'
    assignableScopes: empty(resourceGroupNames) ? map(subscriptionIds, s => '/subscriptions/${s}') : map(resourceGroupScopes, x => '/subscriptions/${x.subscriptionId}/resourceGroups/${x.resourceGroup}')
    grantWriteActions: grantWriteActions
    ruleModes: ruleModes
  }
}

module subscriptionAssignments 'modules/role-assignment.bicep' = [for s in subscriptionIds: if (assignRoleAtTargets && empty(resourceGroupNames)) {
  name: 'remediator-role-${take(uniqueString(s, environmentName), 8)}'
  scope: subscription(s)
  params: {
    roleDefinitionGuid: role.outputs.roleDefinitionGuid
    principalId: identity.outputs.appPrincipalId
  }
}]

var resourceGroupScopes = flatten(map(subscriptionIds, s => map(resourceGroupNames, g => {
  subscriptionId: s
  resourceGroup: g
})))

module resourceGroupAssignments 'modules/role-assignment-rg.bicep' = [for x in resourceGroupScopes: if (assignRoleAtTargets) {
  name: 'remediator-role-${take(uniqueString(x.subscriptionId, x.resourceGroup, environmentName), 8)}'
  scope: resourceGroup(x.subscriptionId, x.resourceGroup)
  params: {
    roleDefinitionGuid: role.outputs.roleDefinitionGuid
    principalId: identity.outputs.appPrincipalId
  }
}]

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    location: location
    tags: tags
    name: functionAppName
    planName: 'plan-apimrem-${resourceToken}'
    nodeVersion: nodeVersion
    maximumInstanceCount: maximumInstanceCount
    identityId: identity.outputs.appIdentityId
    identityClientId: identity.outputs.appClientId
    identityPrincipalId: identity.outputs.appPrincipalId
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    remediatorMode: remediatorMode
    ruleModes: ruleModes
    exemptions: exemptions
    recreateForeignLocks: recreateForeignLocks
    sweepSchedule: sweepSchedule
    minApiVersion: minApiVersion
    // with management groups the scope is theirs: a subscription list would narrow it
    subscriptionIds: scanAllVisibleSubscriptions || !empty(managementGroupList) ? [] : subscriptionIds
    resourceGroups: resourceGroupNames
    managementGroups: managementGroupList
    discovery: discovery
    keyVaultUrl: keyVaultUrl
    keyVaultResourceId: keyVaultId
    grantKeyVaultAccess: grantKeyVaultAccess
    logAnalyticsWorkspaceId: logAnalyticsWorkspaceId
    ticketProvider: ticketProvider
    additionalAppSettings: additionalAppSettings
  }
}

// ---- second step: Event Grid (the onResourceEvent function must exist) ----------------------------

module eventsResourceGroups 'modules/resource-group.bicep' = [for s in subscriptionIds: if (deployEventSubscriptions && !contains(existingSystemTopics, s)) {
  name: 'events-rg-${take(uniqueString(s, environmentName), 8)}'
  scope: subscription(s)
  params: {
    name: eventsRgName
    location: location
    tags: tags
  }
}]

module events 'modules/resource-events.bicep' = [for (s, i) in subscriptionIds: if (deployEventSubscriptions) {
  name: 'events-${take(uniqueString(s, environmentName), 8)}'
  scope: resourceGroup(s, contains(existingSystemTopics, s) ? split(existingSystemTopics[s], '/')[0] : eventsRgName)
  // after the function app through functionApp.outputs.id below
  dependsOn: [eventsResourceGroups[i]]
  params: {
    createSystemTopic: !contains(existingSystemTopics, s)
    systemTopicName: contains(existingSystemTopics, s) ? split(existingSystemTopics[s], '/')[1] : 'evgt-apimrem-${take(uniqueString(s, environmentName), 8)}'
    subscriptionId: s
    tags: tags
    eventsIdentityId: identity.outputs.eventsIdentityId
    functionAppId: functionApp.outputs.id
    remediatorPrincipalId: identity.outputs.appPrincipalId
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: deadLetterContainerName
  }
}]

// ---- outputs (azd stores them in the environment; the hooks and docs use them) --------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_ID string = functionApp.outputs.id
output SERVICE_REMEDIATOR_NAME string = functionApp.outputs.name
output REMEDIATOR_PRINCIPAL_ID string = identity.outputs.appPrincipalId
output REMEDIATOR_CLIENT_ID string = identity.outputs.appClientId
// for infra/management-group.bicep (eventsIdentityId, deadLetterStorageAccountId)
output REMEDIATOR_EVENTS_IDENTITY_ID string = identity.outputs.eventsIdentityId
output REMEDIATOR_ROLE_DEFINITION_ID string = role.outputs.roleDefinitionId
output AZURE_REMEDIATOR_SUBSCRIPTIONS string = join(subscriptionIds, ',')
output AZURE_KEY_VAULT_URL string = keyVaultUrl
output AZURE_KEY_VAULT_RESOURCE_ID string = keyVaultId
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output STORAGE_ACCOUNT_ID string = storage.outputs.id
output EVENT_SUBSCRIPTIONS_DEPLOYED bool = deployEventSubscriptions
