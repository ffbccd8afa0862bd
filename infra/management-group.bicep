// Optional: the custom role defined and assigned at a management group, for estates where the
// remediator covers every subscription below it (REMEDIATOR_SUBSCRIPTIONS empty = every subscription
// the identity can list). Deploy main.bicep with assignRoleAtTargets=false, then:
//
//   az deployment mg create -m <management-group-id> -l <region> -f infra/management-group.bicep \
//     -p environmentName=<env> principalId=<REMEDIATOR_PRINCIPAL_ID>
//
// Event Grid system topics stay per subscription: list the subscriptions in targetSubscriptionIds
// of main.bicep for event-driven fixes; the others are covered by the sweep.
targetScope = 'managementGroup'

param environmentName string
@description('The remediator identity\'s principal id (output REMEDIATOR_PRINCIPAL_ID of main.bicep).')
param principalId string
@description('False: reads only (enough for dry-run).')
param grantWriteActions bool = true

var roleActions = loadJsonContent('role-actions.json')
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
        actions: grantWriteActions ? concat(roleActions.read, roleActions.write) : roleActions.read
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
