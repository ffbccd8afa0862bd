// Assigns the custom role to the app's identity at one management group (REMEDIATOR_MANAGEMENT_GROUPS): the role then
// reaches every subscription and resource group below it, child groups included.
targetScope = 'managementGroup'

@description('Full id of the custom role (defined at the deploying management group, which must be this group or above it).')
param roleDefinitionId string
param principalId string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, principalId, last(split(roleDefinitionId, '/')))
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'apim-remediator'
  }
}

output assignmentId string = assignment.id
