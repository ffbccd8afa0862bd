// The app's access to the Log Analytics workspace resource-logs-enabled sends resource logs to
// (REMEDIATOR_LOG_ANALYTICS_WORKSPACE_ID; deployed into the workspace's resource group): one custom role generated from
// the permission manifest (infra/role-actions.json `logAnalytics.workspaceActions`, `npm run gen:role`), assigned on the
// workspace only.
//  - ARM checks the linked workspace when a diagnostic setting names it in `workspaceId` (its refusal: "does not have
//    permission to perform action 'Microsoft.OperationalInsights/workspaces/sharedKeys/action' on the linked scope(s)").
//    Microsoft Learn, "Manage access to Log Analytics workspaces": workspaces/read "View workspace basic properties",
//    workspaces/sharedKeys/action "Read the workspace keys to allow sending logs to this workspace".
//  - The diagnostic setting itself is written with the ARM role at the targets (Microsoft.Insights/diagnosticSettings/write).
//  - Not the built-in Log Analytics Contributor, which also changes the workspace, its solutions and saved searches.
param workspaceName string
param principalId string
@description('Names the role: APIM Remediator Log Analytics destination (<suffix>).')
param roleNameSuffix string

var roleActions = loadJsonContent('../role-actions.json')
var destinationRoleName = 'APIM Remediator Log Analytics destination (${roleNameSuffix})'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource destinationRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'apim-remediator-log-analytics-destination', destinationRoleName)
  properties: {
    roleName: destinationRoleName
    description: 'apim-remediator: links API Management diagnostic settings to this workspace (generated from the permission manifest).'
    type: 'CustomRole'
    permissions: [
      {
        actions: roleActions.logAnalytics.workspaceActions
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

resource destination 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, 'apim-remediator-log-analytics-destination')
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', destinationRole.name)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'apim-remediator: sends API Management resource logs here (resource-logs-enabled)'
  }
}
