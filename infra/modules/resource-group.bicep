// A resource group in a (possibly other) subscription: holds that subscription's Event Grid system topic.
targetScope = 'subscription'

param name string
param location string
param tags object

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: name
  location: location
  tags: tags
}
