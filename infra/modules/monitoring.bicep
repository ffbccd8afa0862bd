// Log Analytics + workspace-based Application Insights with local (instrumentation key) authentication
// disabled: the app sends telemetry with Entra ID (APPLICATIONINSIGHTS_AUTHENTICATION_STRING) as its
// user-assigned identity, which gets Monitoring Metrics Publisher here. Plus the operator workbook.
param location string
param tags object
param workspaceName string
param appInsightsName string
param appPrincipalId string
@description('Deploy infra/workbook.json as a shared workbook on the Application Insights resource.')
param deployWorkbook bool = true

var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 90
    features: {
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
  }
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = if (deployWorkbook) {
  name: guid(appInsights.id, 'apim-remediator-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'APIM Remediator'
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: loadTextContent('../workbook.json')
  }
}

output appInsightsId string = appInsights.id
output appInsightsName string = appInsights.name
// The connection string holds the instrumentation key, an identifier (not a credential: local auth is disabled).
output connectionString string = appInsights.properties.ConnectionString
