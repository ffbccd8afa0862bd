#!/bin/sh
# azd postdown hook: after `azd down` the function is gone, so the next `azd up` must again create the
# Event Grid subscriptions only after the code is deployed.
set -eu
azd env set DEPLOY_EVENT_SUBSCRIPTIONS false
