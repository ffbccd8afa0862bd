// One subscription's Event Grid wiring, deployed from the management-group entry point (management-group.bicep):
// the events resource group (unless the subscription already has a system topic) and resource-events.bicep in it,
// with the names main.bicep gives the same subscription, so a subscription both deploy to gets one topic.
targetScope = 'subscription'

@description('Resource group of the system topic (created here unless existingSystemTopic is set).')
param resourceGroupName string
param location string
param tags object
@description('An existing Microsoft.Resources.Subscriptions system topic of this subscription, as <resourceGroup>/<topicName>; empty: one is created.')
param existingSystemTopic string = ''
param systemTopicName string
param eventsIdentityId string
param functionAppId string
param remediatorPrincipalId string
param deadLetterStorageAccountId string
param deadLetterContainerName string

var reuse = !empty(existingSystemTopic)

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = if (!reuse) {
  name: resourceGroupName
  location: location
  tags: tags
}

module events 'resource-events.bicep' = {
  name: 'events-${take(uniqueString(subscription().id, systemTopicName), 8)}'
  scope: resourceGroup(reuse ? split(existingSystemTopic, '/')[0] : resourceGroupName)
  dependsOn: [rg]
  params: {
    createSystemTopic: !reuse
    systemTopicName: reuse ? split(existingSystemTopic, '/')[1] : systemTopicName
    subscriptionId: subscription().subscriptionId
    tags: tags
    eventsIdentityId: eventsIdentityId
    functionAppId: functionAppId
    remediatorPrincipalId: remediatorPrincipalId
    deadLetterStorageAccountId: deadLetterStorageAccountId
    deadLetterContainerName: deadLetterContainerName
  }
}

output systemTopicId string = events.outputs.systemTopicId
output eventSubscriptionId string = events.outputs.eventSubscriptionId
