// The least-privilege custom role: exactly the ARM actions the rules need, from infra/role-actions.json,
// which `npm run gen:role` generates from src/azure/permissions.ts (the tests fail when it is stale).
// Never locks/delete, never role assignments (Key Vault grants go through key-vault-access.bicep), no wildcards.
// The writes only an opt-in fix needs (roleActions.optIn, e.g. backends/write for backend-certificate-validation)
// are granted only when ruleModes enables that rule (<rule>=enforce), as the app reads REMEDIATOR_RULE_MODES.
targetScope = 'subscription'

param roleName string
@description('Subscriptions (or resource groups) where the role may be assigned.')
param assignableScopes array
@description('False: reads only (enough for dry-run).')
param grantWriteActions bool = true
@description('REMEDIATOR_RULE_MODES (e.g. backend-certificate-validation=enforce): an opt-in rule\'s own writes are granted only when it is set to enforce here.')
param ruleModes string = ''

var roleActions = loadJsonContent('../role-actions.json')
// rule=mode pairs, separated as the app separates them (commas, semicolons, spaces)
var ruleModePairs = split(replace(replace(ruleModes, ';', ','), ' ', ','), ',')
var optInWrites = flatten(map(filter(items(roleActions.optIn), r => contains(ruleModePairs, '${r.key}=enforce')), r => r.value))
var roleGuid = guid(subscription().id, 'apim-remediator-role', roleName)

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
    assignableScopes: assignableScopes
  }
}

output roleDefinitionId string = role.id
output roleDefinitionGuid string = roleGuid
