// Two user-assigned identities: the app's (the one the custom role, Key Vault and storage roles go to; its
// principal id is REMEDIATOR_PRINCIPAL_ID and its events are filtered out), and a separate one Event Grid
// uses for dead-lettering, which can do nothing but write to the dead-letter container.
param location string
param tags object
param appIdentityName string
param eventsIdentityName string

resource app 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: appIdentityName
  location: location
  tags: tags
}

resource events 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: eventsIdentityName
  location: location
  tags: tags
}

output appIdentityId string = app.id
output appPrincipalId string = app.properties.principalId
output appClientId string = app.properties.clientId
output eventsIdentityId string = events.id
output eventsPrincipalId string = events.properties.principalId
