// One subscription's resource events to the onResourceEvent function: the subscription's system topic
// (Microsoft.Resources.Subscriptions; only one may exist per subscription, so an existing one can be reused)
// and an event subscription that keeps only successful writes, deletes and actions on API Management
// services (and their children) and on locks, drops the remediator's own changes, retries and dead-letters.
//
// Deployed after the code: Event Grid validates an Azure Function destination when the subscription is created.
param createSystemTopic bool
param systemTopicName string
param subscriptionId string
param tags object
@description('User-assigned identity the topic uses to write dead letters.')
param eventsIdentityId string
param functionAppId string
@description('The remediator\'s own principal: events it caused are not delivered.')
param remediatorPrincipalId string
param deadLetterStorageAccountId string
param deadLetterContainerName string
param maxDeliveryAttempts int = 30
param eventTimeToLiveInMinutes int = 1440

resource newTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (createSystemTopic) {
  name: systemTopicName
  // subscription system topics are global
  #disable-next-line no-hardcoded-location
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${eventsIdentityId}': {}
    }
  }
  properties: {
    source: '/subscriptions/${subscriptionId}'
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource toRemediator 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'apim-remediator'
  dependsOn: [newTopic]
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/onResourceEvent'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceDeleteSuccess'
        'Microsoft.Resources.ResourceActionSuccess'
      ]
      enableAdvancedFilteringOnArrays: true
      advancedFilters: [
        {
          // API Management services and their children (apis, namedValues, tenant, ...), and locks anywhere
          operatorType: 'StringBeginsWith'
          key: 'data.operationName'
          values: [
            'Microsoft.ApiManagement/service'
            'Microsoft.Authorization/locks'
          ]
        }
        {
          // not our own changes (the app drops them too; this saves the invocations). ARM writes the
          // evidence principalId as 32 hex digits without dashes: both spellings are listed.
          operatorType: 'StringNotIn'
          key: 'data.authorization.evidence.principalId'
          values: [
            remediatorPrincipalId
            replace(remediatorPrincipalId, '-', '')
          ]
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: eventsIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output systemTopicId string = topic.id
output eventSubscriptionId string = toRemediator.id
