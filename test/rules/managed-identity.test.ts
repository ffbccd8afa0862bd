import { rule } from "../../src/remediations/managed-identity.js";
import { EXPR, SERVICE_ID, consumption, pascal, service, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const UAI = "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/rg-apim/providers/Microsoft.ManagedIdentity/userAssignedIdentities/apim-id";
const withIdentity = (identity: unknown) => snap({ service: service({}, { identity: identity as Record<string, unknown> }) });

ruleTester(rule, {
  valid: [
    { name: "system-assigned", snapshot: withIdentity({ type: "SystemAssigned", principalId: "p", tenantId: "t" }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /SystemAssigned/ }] },
    { name: "user-assigned", snapshot: withIdentity({ type: "UserAssigned", userAssignedIdentities: { [UAI]: {} } }) },
    { name: "both", snapshot: withIdentity({ type: "SystemAssigned, UserAssigned", userAssignedIdentities: { [UAI]: {} } }) },
    { name: "type in lower case", snapshot: withIdentity({ type: "systemassigned" }) },
    { name: "PascalCase Identity.Type", snapshot: snap({ service: pascal(service({}, { identity: { type: "SystemAssigned" } })) }) },
    { name: "a Consumption service with an identity", snapshot: snap({ service: consumption({}, { identity: { type: "SystemAssigned" } }) }) },
    { name: "PSRule Azure.APIM.ManagedIdentity: 'SystemAssigned,UserAssigned' (no space) counts", snapshot: withIdentity({ type: "SystemAssigned,UserAssigned", userAssignedIdentities: { [UAI]: {} } }), count: 1, expect: [{ status: "pass" }] },
    { name: "azqr apim-008: any type but None counts (UserAssigned)", snapshot: withIdentity({ type: "UserAssigned", userAssignedIdentities: { [UAI]: { principalId: "p", clientId: "c" } } }), count: 1 },
  ],
  invalid: [
    { name: "no identity", snapshot: snap(), expect: [{ resourceId: SERVICE_ID, status: "fail", message: /'apim1' has no managed identity/ }] },
    { name: "type None", snapshot: withIdentity({ type: "None" }), expect: [{ status: "fail" }] },
    { name: "an empty identity", snapshot: withIdentity({}), expect: [{ status: "fail" }] },
    { name: "PascalCase Identity.Type None", snapshot: snap({ service: pascal(service({}, { identity: { type: "None" } })) }), expect: [{ status: "fail" }] },
    { name: "a Consumption service without an identity", snapshot: snap({ service: consumption() }), expect: [{ status: "fail" }] },
    { name: "azqr apim-008 / PSRule Azure.APIM.ManagedIdentity: identity type None fails", snapshot: withIdentity({ type: "None" }), count: 1, expect: [{ status: "fail", message: /no managed identity/ }] },
    { name: "azqr apim-008: an identity without a type fails", snapshot: withIdentity({ principalId: "p" }), count: 1, expect: [{ status: "fail" }] },
  ],
  notApplicable: [{ name: "children-only input (service not in the input)", snapshot: stub() }],
  unknown: [
    { name: "the identity type is a template expression", snapshot: withIdentity({ type: EXPR }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /template expression/ }] },
    { name: "the identity block is a template expression", snapshot: withIdentity("[if(parameters('mi'), createObject('type', 'SystemAssigned'), null())]") },
  ],
});
