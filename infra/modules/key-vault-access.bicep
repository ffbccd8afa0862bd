// The app's access to the target Key Vault (deployed into the vault's resource group): two custom roles generated
// from the permission manifest (infra/role-actions.json, `npm run gen:role`), both assigned on the vault only.
//  - secrets: exactly the data actions the migration calls (getSecret, setSecret, and recover of a soft-deleted
//    secret of its own name). Not the built-in Key Vault Secrets Officer, which also lists, deletes, purges, backs up
//    and restores every secret.
//  - grants: role-assignment read and write, never delete (not the built-in Role Based Access Control
//    Administrator, which can delete any assignment on the vault). The write is constrained by a condition (ABAC)
//    to Key Vault Secrets User, for service principals (the APIM identities), never the remediator itself.
//    ABAC offers no attribute for the scope of the new assignment (the request attributes of
//    roleAssignments/write are RoleDefinitionId, PrincipalId and PrincipalType:
//    https://learn.microsoft.com/azure/role-based-access-control/conditions-authorization-actions-attributes), so the
//    condition cannot keep the grants to `<vault>/secrets/<name>`; docs/operations.md (Permissions) says what
//    covers that instead.
//  - When grants are turned off: the grants role holds only the read (the remediator lists the vault's role
//    assignments to check the grants a person made) and no condition.
param keyVaultName string
param principalId string
param grantKeyVaultAccess bool
@description('Names the roles: APIM Remediator Key Vault secrets (<suffix>) and APIM Remediator Key Vault grants (<suffix>).')
param roleNameSuffix string

var roleActions = loadJsonContent('../role-actions.json')
var roles = {
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
}
var secretsRoleName = 'APIM Remediator Key Vault secrets (${roleNameSuffix})'
var grantsRoleName = 'APIM Remediator Key Vault grants (${roleNameSuffix})'
var grantActions = grantKeyVaultAccess ? roleActions.keyVault.grantActions : filter(roleActions.keyVault.grantActions, a => endsWith(a, '/read'))

// Write (create/update) only of Key Vault Secrets User, only for a service principal, never for the remediator itself.
var grantCondition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${roles.keyVaultSecretsUser}} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {\'ServicePrincipal\'} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidNotEquals {${principalId}}))'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secretsRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'apim-remediator-key-vault-secrets', secretsRoleName)
  properties: {
    roleName: secretsRoleName
    description: 'apim-remediator: writes migrated secrets and reads them back (generated from the permission manifest).'
    type: 'CustomRole'
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: roleActions.keyVault.dataActions
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource grantsRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'apim-remediator-key-vault-grants', grantsRoleName)
  properties: {
    roleName: grantsRoleName
    description: 'apim-remediator: grants APIM identities Key Vault Secrets User on migrated secrets; never deletes an assignment (generated from the permission manifest).'
    type: 'CustomRole'
    permissions: [
      {
        actions: grantActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource secrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, 'apim-remediator-key-vault-secrets')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsRole.name)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'apim-remediator: migrates secret named values into this vault'
  }
}

resource grants 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, 'apim-remediator-key-vault-grants')
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', grantsRole.name)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: grantKeyVaultAccess ? 'apim-remediator: may only assign Key Vault Secrets User (to APIM identities, on migrated secrets)' : 'apim-remediator: checks the manual Key Vault Secrets User grants of APIM identities'
    conditionVersion: grantKeyVaultAccess ? '2.0' : null
    condition: grantKeyVaultAccess ? grantCondition : null
  }
}
