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
@description('Resource id of an action group the alert rules notify; empty: the alerts fire (Azure Monitor > Alerts) without notifying anyone.')
param alertActionGroupId string = ''

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

// Log search alert rules on the app's own log lines (traces in Application Insights; host.json keeps
// traces out of sampling, so every line counts): a message moved to the poison queue (onPoison logs
// `alert: apim-remediator-poison`), and a fix that failed or was rolled back (the audit record's outcome).
// Both match the shapes the tests check (src/app/app.ts recordPoison, src/engine/audit.ts).
var appLines = 'traces | where message startswith "{" and message has "apim-remediator" | extend j = parse_json(message) | where tostring(j.app) == "apim-remediator"'
var alerts = [
  {
    name: 'poison'
    displayName: 'APIM Remediator: evaluation poisoned'
    description: 'An evaluation failed on every retry and its message went to the poison queue (apim-evaluate-poison): that service is not being kept compliant. See the workbook\'s Failures view and docs/operations.md.'
    severity: 1
    query: '${appLines} | where tostring(j.alert) == "apim-remediator-poison" | extend serviceId = tostring(j.serviceId)'
  }
  {
    name: 'failed-remediation'
    displayName: 'APIM Remediator: remediation failed or rolled back'
    description: 'A fix failed or was rolled back (audit outcome failed / rolled-back): the drift remains; the audit record names the rule, resource and reason.'
    severity: 2
    query: '${appLines} | where tostring(j.audit.outcome) in ("failed", "rolled-back") | extend serviceId = extract("^(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft.ApiManagement/service/[^/]+)", 1, tostring(j.audit.resourceId), typeof(string)), ruleId = tostring(j.audit.ruleId)'
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for a in alerts: {
  name: 'apim-remediator-${a.name}-${uniqueString(appInsights.id)}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: a.displayName
    description: a.description
    severity: a.severity
    enabled: true
    scopes: [appInsights.id]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: a.query
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: empty(alertActionGroupId) ? [] : [alertActionGroupId]
    }
  }
}]
