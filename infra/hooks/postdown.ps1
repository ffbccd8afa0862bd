# azd postdown hook (Windows): see postdown.sh.
$ErrorActionPreference = 'Stop'
azd env set DEPLOY_EVENT_SUBSCRIPTIONS false
