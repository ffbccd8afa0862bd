// The app's access to the target Key Vault (deployed into the vault's resource group):
//  - Key Vault Secrets Officer: write migrated secrets, read them back, restore on rollback.
//  - Role Based Access Control Administrator, constrained by a condition (ABAC) so the only role it can
//    assign or remove is Key Vault Secrets User, and only to service principals (the APIM identities):
//    the remediator grants each APIM identity read access to the one secret migrated for it.
//  - When grants are turned off, Reader instead: the remediator then only checks that a person has granted
//    the access (it lists the vault's role assignments) and opens a ticket when not.
param keyVaultName string
param principalId string
param grantKeyVaultAccess bool

var roles = {
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  roleBasedAccessControlAdministrator: 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'
  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
}

// Write (create/update) only for Key Vault Secrets User given to a service principal; delete likewise.
var grantCondition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${roles.keyVaultSecretsUser}} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {\'ServicePrincipal\'})) AND ((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${roles.keyVaultSecretsUser}} AND @Resource[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {\'ServicePrincipal\'}))'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'apim-remediator: migrates secret named values into this vault'
  }
}

resource grantSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantKeyVaultAccess) {
  name: guid(vault.id, principalId, roles.roleBasedAccessControlAdministrator)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.roleBasedAccessControlAdministrator)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'apim-remediator: may only assign Key Vault Secrets User (to APIM identities, on migrated secrets)'
    conditionVersion: '2.0'
    condition: grantCondition
  }
}

resource readAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!grantKeyVaultAccess) {
  name: guid(vault.id, principalId, roles.reader)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.reader)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'apim-remediator: checks the manual Key Vault Secrets User grants of APIM identities'
  }
}
