// Optional: the custom role defined and assigned at a management group, for estates where the
// remediator covers every subscription below it (REMEDIATOR_SUBSCRIPTIONS empty = every subscription
// the identity can list). Deploy main.bicep with assignRoleAtTargets=false, then:
//
//   az deployment mg create -m <management-group-id> -l <region> -f infra/management-group.bicep \
//     -p environmentName=<env> principalId=<REMEDIATOR_PRINCIPAL_ID>
//
// Event Grid system topics stay per subscription: list the subscriptions in targetSubscriptionIds
// of main.bicep for event-driven fixes; the others are covered by the sweep.
//
// Least privilege: this grants the role (locks/write included) on every subscription below the management
// group. Lock writes cannot be narrowed to API Management services by a condition (ABAC conditions cover
// role assignments and storage / Key Vault data actions, not Microsoft.Authorization/locks), so prefer
// main.bicep with targetSubscriptions / targetResourceGroups where the estate allows it.
targetScope = 'managementGroup'

param environmentName string
@description('The remediator identity\'s principal id (output REMEDIATOR_PRINCIPAL_ID of main.bicep).')
param principalId string
@description('False: reads only (enough for dry-run).')
param grantWriteActions bool = true
@description('REMEDIATOR_RULE_MODES as deployed with main.bicep: an opt-in rule\'s own writes (e.g. backends/write for backend-certificate-validation=enforce) are granted only when it is set to enforce here.')
param ruleModes string = ''

var roleActions = loadJsonContent('role-actions.json')
// rule=mode pairs, separated as the app separates them (commas, semicolons, spaces)
var ruleModePairs = split(replace(replace(ruleModes, ';', ','), ' ', ','), ',')
var optInWrites = flatten(map(filter(items(roleActions.optIn), r => contains(ruleModePairs, '${r.key}=enforce')), r => r.value))
var roleName = 'APIM Remediator (${environmentName}, ${managementGroup().name})'
var roleGuid = guid(managementGroup().id, 'apim-remediator-role', roleName)

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
    assignableScopes: [
      managementGroup().id
    ]
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, principalId, roleGuid)
  properties: {
    roleDefinitionId: role.id
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'apim-remediator'
  }
}

output roleDefinitionId string = role.id
