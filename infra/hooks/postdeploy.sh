#!/bin/sh
# azd postdeploy hook: the second deployment step.
# Event Grid validates an Azure Function destination when the event subscription is created, so the
# subscriptions to onResourceEvent can only be made once the code is deployed. The first `azd up`
# provisions without them (DEPLOY_EVENT_SUBSCRIPTIONS=false), deploys the code, then this hook turns the
# flag on and provisions again; from then on every `azd provision` keeps them. `azd down` resets the flag
# (postdown hook). Idempotent: does nothing once the flag is on.
set -eu

if [ "${DEPLOY_EVENT_SUBSCRIPTIONS:-false}" = "true" ]; then
  echo "apim-remediator: Event Grid subscriptions are part of the deployment (DEPLOY_EVENT_SUBSCRIPTIONS=true)."
  exit 0
fi

echo "apim-remediator: the code is deployed; creating the Event Grid system topics and subscriptions (second step)."
azd env set DEPLOY_EVENT_SUBSCRIPTIONS true
if ! azd provision --no-prompt; then
  azd env set DEPLOY_EVENT_SUBSCRIPTIONS false
  echo "apim-remediator: the second step failed; fix the cause and run: azd env set DEPLOY_EVENT_SUBSCRIPTIONS true && azd provision" >&2
  exit 1
fi
echo "apim-remediator: resource events now reach onResourceEvent. Check: az eventgrid system-topic event-subscription list"
