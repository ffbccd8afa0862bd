// The least-privilege custom role: exactly the ARM actions the rules need, from infra/role-actions.json,
// which `npm run gen:role` generates from src/azure/permissions.ts (the tests fail when it is stale).
// Never locks/delete, never role assignments (Key Vault grants go through key-vault-access.bicep), no wildcards.
targetScope = 'subscription'

param roleName string
@description('Subscriptions (or resource groups) where the role may be assigned.')
param assignableScopes array
@description('False: reads only (enough for dry-run).')
param grantWriteActions bool = true

var roleActions = loadJsonContent('../role-actions.json')
var roleGuid = guid(subscription().id, 'apim-remediator-role', roleName)

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
    assignableScopes: assignableScopes
  }
}

output roleDefinitionId string = role.id
output roleDefinitionGuid string = roleGuid
