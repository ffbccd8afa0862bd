# azd postdeploy hook (Windows): the second deployment step; see postdeploy.sh for why.
$ErrorActionPreference = 'Stop'

if ($env:DEPLOY_EVENT_SUBSCRIPTIONS -eq 'true') {
  Write-Host 'apim-remediator: Event Grid subscriptions are part of the deployment (DEPLOY_EVENT_SUBSCRIPTIONS=true).'
  exit 0
}

Write-Host 'apim-remediator: the code is deployed; creating the Event Grid system topics and subscriptions (second step).'
azd env set DEPLOY_EVENT_SUBSCRIPTIONS true
azd provision --no-prompt
if ($LASTEXITCODE -ne 0) {
  azd env set DEPLOY_EVENT_SUBSCRIPTIONS false
  Write-Error 'apim-remediator: the second step failed; fix the cause and run: azd env set DEPLOY_EVENT_SUBSCRIPTIONS true; azd provision'
  exit 1
}
Write-Host 'apim-remediator: resource events now reach onResourceEvent.'
