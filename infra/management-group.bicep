// The estate-scale deployment (REMEDIATOR_MANAGEMENT_GROUPS): deployed at a management group after main.bicep and the
// code, it defines the custom role once, assigns it to the app's identity at each management group in scope (so it
// reaches every subscription below them, child groups included), and creates in each listed subscription the Event
// Grid system topic (Microsoft.Resources.Subscriptions) and the event subscription to onResourceEvent, exactly as
// main.bicep does for its target subscriptions (modules/resource-events.bicep, with the same names).
//
//   az deployment mg create -n apim-remediator-mg -m <deploying management group> -l <region> \
//     -f infra/management-group.bicep -p @mg.parameters.json        (README "Deploy", docs/operations.md)
//
// - One custom role: Azure accepts only one management group in a custom role's assignableScopes, so the role is
//   defined at the deploying management group, assignable there, and assigned at each group in managementGroupIds;
//   deploy at those groups' common parent (or at the one group). A role assignable at a group is assignable below it.
// - Bicep cannot enumerate a management group's descendants at deploy time: the subscriptions that get Event Grid are
//   a parameter (subscriptionIds), listed before deploying with Resource Graph (`az graph query` over
//   `resourcecontainers`, which includes child groups' subscriptions). A subscription without them is still covered
//   by the sweep. A Bicep loop (an ARM copy loop) takes at most 800 items: split a longer list into deployments.
// - Without functionAppId (role only, as this template did before) no Event Grid resource is created.
//
// Least privilege: this grants the role (locks/write included) on every subscription below the groups. Lock writes
// cannot be narrowed to API Management services by a condition (ABAC conditions cover role assignments and storage /
// Key Vault data actions, not Microsoft.Authorization/locks), so prefer main.bicep with targetSubscriptions /
// targetResourceGroups where the estate allows it.
targetScope = 'managementGroup'

@description('Name of the environment, as deployed with main.bicep: the role name, the events resource group and topic names, tags.')
param environmentName string
@description('The remediator identity\'s principal id (output REMEDIATOR_PRINCIPAL_ID of main.bicep).')
param principalId string
@description('Management group ids the role is assigned at: REMEDIATOR_MANAGEMENT_GROUPS of the app (main.bicep managementGroupIds). Each must be the deploying management group or below it. Empty: the deploying management group.')
param managementGroupIds array = []
@description('Subscription ids (below those groups) that get the Event Grid system topic and subscription; at most 800 per deployment. Bicep cannot list descendants: list them with `az graph query` (docs/operations.md). Empty: no Event Grid resources, the sweep covers every subscription.')
param subscriptionIds array = []
@description('False: reads only (enough for dry-run).')
param grantWriteActions bool = true
@description('REMEDIATOR_RULE_MODES as deployed with main.bicep: an opt-in rule\'s own writes (e.g. backends/write for backend-certificate-validation=enforce) are granted only when it is set to enforce here.')
param ruleModes string = ''
@description('The Function App\'s resource id (output AZURE_FUNCTION_APP_ID of main.bicep), deployed with its code: Event Grid validates the onResourceEvent destination. Empty: no Event Grid resources (role only).')
param functionAppId string = ''
@description('The events identity (output REMEDIATOR_EVENTS_IDENTITY_ID of main.bicep): the system topics write dead letters with it.')
param eventsIdentityId string = ''
@description('The app\'s storage account (output STORAGE_ACCOUNT_ID of main.bicep), which holds the dead-letter container.')
param deadLetterStorageAccountId string = ''
@description('Resource group created in each subscription for its system topic; main.bicep\'s default name (rg-<environmentName>-events), so a subscription both templates reach gets one topic.')
param eventsResourceGroupName string = 'rg-${environmentName}-events'
@description('Subscriptions that already have a Microsoft.Resources.Subscriptions system topic (only one is allowed per subscription): { "<subscriptionId>": "<resourceGroup>/<topicName>" }, as in main.bicep.')
param existingSystemTopics object = {}
@description('Region of the events resource groups. Default: the deployment\'s location (-l).')
param location string = deployment().location

var roleActions = loadJsonContent('role-actions.json')
// rule=mode pairs, separated as the app separates them (commas, semicolons, spaces)
var ruleModePairs = split(replace(replace(ruleModes, ';', ','), ' ', ','), ',')
var optInWrites = flatten(map(filter(items(roleActions.optIn), r => contains(ruleModePairs, '${r.key}=enforce')), r => r.value))
var roleName = 'APIM Remediator (${environmentName}, ${managementGroup().name})'
var roleGuid = guid(managementGroup().id, 'apim-remediator-role', roleName)
var groups = empty(managementGroupIds) ? [managementGroup().name] : managementGroupIds
var deployEvents = !empty(functionAppId)
// as main.bicep names them
var tags = {
  'azd-env-name': environmentName
  application: 'apim-remediator'
}
var deadLetterContainerName = 'eventgrid-deadletter'

// the reads include Microsoft.ResourceGraph/resources/read (discovery) and Microsoft.Management/managementGroups/read
// (Resource Graph queries over management groups): infra/role-actions.json, generated from the permission manifest
resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleGuid
  properties: {
    roleName: roleName
    description: 'apim-remediator: reads API Management services and what its rules check; fixes drift with the writes its remediations make (generated from the permission manifest).'
    type: 'CustomRole'
    permissions: [
      {
        actions: grantWriteActions ? union(roleActions.read, roleActions.write, optInWrites) : roleActions.read
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    // one management group at most (Azure's limit for custom roles)
    assignableScopes: [
      managementGroup().id
    ]
  }
}

module assignments 'modules/role-assignment-mg.bicep' = [for g in groups: {
  name: 'remediator-role-${take(uniqueString(g, environmentName), 8)}'
  scope: managementGroup(g)
  params: {
    roleDefinitionId: role.id
    principalId: principalId
  }
}]

module events 'modules/subscription-events.bicep' = [for s in subscriptionIds: if (deployEvents) {
  name: 'events-${take(uniqueString(s, environmentName), 8)}'
  scope: subscription(s)
  params: {
    resourceGroupName: eventsResourceGroupName
    location: location
    tags: tags
    existingSystemTopic: contains(existingSystemTopics, s) ? existingSystemTopics[s] : ''
    systemTopicName: 'evgt-apimrem-${take(uniqueString(s, environmentName), 8)}'
    eventsIdentityId: eventsIdentityId
    functionAppId: functionAppId
    remediatorPrincipalId: principalId
    deadLetterStorageAccountId: deadLetterStorageAccountId
    deadLetterContainerName: deadLetterContainerName
  }
}]

output roleDefinitionId string = role.id
output REMEDIATOR_MANAGEMENT_GROUPS string = join(groups, ',')
output EVENT_GRID_SUBSCRIPTIONS string = deployEvents ? join(subscriptionIds, ',') : ''
