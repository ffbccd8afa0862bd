import { rule } from "../../src/remediations/resource-lock.js";
import { EXPR, RG_ID, SERVICE_ID, SUB, consumption, lock, pascal, snap, stub, ruleTester } from "../helpers/rule-tester.js";

const OTHER_SUB = "22222222-2222-4222-8222-222222222222";
const OTHER_RG_ID = `/subscriptions/${SUB}/resourceGroups/rg-apim2`;
const SIBLING = (name: string) => `${RG_ID}/providers/Microsoft.ApiManagement/service/${name}`;

ruleTester(rule, {
  valid: [
    { name: "CanNotDelete lock on the service", snapshot: snap({ locks: [lock(SERVICE_ID, "nodelete")] }), count: 1, expect: [{ resourceId: SERVICE_ID, status: "pass", message: /CanNotDelete lock 'nodelete'/ }] },
    { name: "ReadOnly lock on the service", snapshot: snap({ locks: [lock(SERVICE_ID, "ro", "ReadOnly")] }), expect: [{ status: "pass", message: /ReadOnly/ }] },
    { name: "inherited from the resource group", snapshot: snap({ locks: [lock(RG_ID, "rg-lock")] }), expect: [{ status: "pass", message: /at \/subscriptions\/[^ ]+\/resourceGroups\/rg-apim\.$/ }] },
    { name: "inherited from the subscription", snapshot: snap({ locks: [lock(`/subscriptions/${SUB}`, "sub-lock")] }), expect: [{ status: "pass", message: /'sub-lock'/ }] },
    { name: "lowercase 'resourcegroups' and level", snapshot: snap({ locks: [lock(RG_ID.replace("resourceGroups", "resourcegroups").toUpperCase(), "l", "cannotdelete")] }) },
    { name: "PascalCase Properties.Level", snapshot: snap({ locks: [pascal(lock(SERVICE_ID, "l", "CanNotDelete"))] }) },
    { name: "a NotSpecified lock next to a CanNotDelete lock", snapshot: snap({ locks: [lock(SERVICE_ID, "ns", "NotSpecified"), lock(RG_ID, "rg-lock")] }), expect: [{ status: "pass", message: /'rg-lock'/ }] },
    { name: "a template-expression lock next to a CanNotDelete lock", snapshot: snap({ locks: [lock(SERVICE_ID, "x", EXPR), lock(RG_ID, "rg-lock")] }) },
    { name: "a Consumption service with a lock", snapshot: snap({ service: consumption(), locks: [lock(SERVICE_ID)] }) },
    { name: "a lock seen before (inventory) is still there", snapshot: snap({ locks: [lock(SERVICE_ID, "team-lock"), lock(RG_ID, "rg-lock")], lockInventory: [{ id: `${SERVICE_ID}/providers/Microsoft.Authorization/locks/team-lock`, name: "team-lock", level: "CanNotDelete" }] }) },
    {
      name: "someone else's ReadOnly lock seen before is gone (its owner's to remove): reported, while the resource group lock protects",
      snapshot: snap({ locks: [lock(RG_ID, "rg-lock")], lockInventory: [{ id: `${SERVICE_ID}/providers/Microsoft.Authorization/locks/team-lock`, name: "team-lock", level: "ReadOnly" }] }),
      expect: [{ resourceId: SERVICE_ID, status: "pass", message: /'rg-lock'.*Lock 'team-lock' \(ReadOnly\) seen on 'apim1' before is gone; not re-created/ }],
    },
  ],
  invalid: [
    { name: "no locks", snapshot: snap(), count: 1, expect: [{ resourceId: SERVICE_ID, status: "fail", message: /No CanNotDelete or ReadOnly lock protects 'apim1'/ }] },
    { name: "a lock on another service in the resource group", snapshot: snap({ locks: [lock(SIBLING("apim2"))] }), expect: [{ status: "fail" }] },
    { name: "a lock on a service whose name starts with ours", snapshot: snap({ locks: [lock(SIBLING("apim10")), lock(SIBLING("apim1-dr"))] }), expect: [{ status: "fail" }] },
    { name: "a lock on another resource group whose name starts with ours", snapshot: snap({ locks: [lock(OTHER_RG_ID)] }), expect: [{ status: "fail" }] },
    { name: "a lock on another subscription", snapshot: snap({ locks: [lock(`/subscriptions/${OTHER_SUB}`)] }), expect: [{ status: "fail" }] },
    { name: "a lock on a child of the service only", snapshot: snap({ locks: [lock(`${SERVICE_ID}/apis/echo`)] }), expect: [{ status: "fail" }] },
    { name: "a NotSpecified lock", snapshot: snap({ locks: [lock(SERVICE_ID, "ns", "NotSpecified")] }), expect: [{ status: "fail" }] },
    { name: "a Consumption service without a lock", snapshot: snap({ service: consumption() }), expect: [{ status: "fail" }] },
    {
      name: "a CanNotDelete lock seen before (inventory) is gone, although the resource group lock protects",
      snapshot: snap({ locks: [lock(RG_ID, "rg-lock")], lockInventory: [{ id: `${SERVICE_ID}/providers/Microsoft.Authorization/locks/team-lock`, name: "team-lock", level: "CanNotDelete" }] }),
      expect: [{ resourceId: SERVICE_ID, status: "fail", message: /^Lock 'team-lock' \(CanNotDelete\) seen on 'apim1' before is gone\.$/ }],
    },
    {
      name: "someone else's ReadOnly lock is gone, with REMEDIATOR_RECREATE_FOREIGN_LOCKS on",
      snapshot: snap({ locks: [lock(RG_ID, "rg-lock")], lockInventory: [{ id: `${SERVICE_ID}/providers/Microsoft.Authorization/locks/team-lock`, name: "team-lock", level: "ReadOnly" }] }),
      options: { recreateForeignLocks: true },
      expect: [{ resourceId: SERVICE_ID, status: "fail", message: /'team-lock' \(ReadOnly\) seen on 'apim1' before is gone/ }],
    },
    {
      name: "the remediator's own ReadOnly lock (REMEDIATOR_LOCK_NAME) is gone",
      snapshot: snap({ locks: [lock(RG_ID, "rg-lock")], lockInventory: [{ id: `${SERVICE_ID}/providers/Microsoft.Authorization/locks/Platform-Freeze`, name: "Platform-Freeze", level: "ReadOnly" }] }),
      options: { lockName: "platform-freeze" },
      expect: [{ resourceId: SERVICE_ID, status: "fail", message: /'Platform-Freeze' \(ReadOnly\) seen on 'apim1' before is gone/ }],
    },
    {
      name: "someone else's ReadOnly lock is gone and nothing else protects the service",
      snapshot: snap({ lockInventory: [{ id: `${SERVICE_ID}/providers/Microsoft.Authorization/locks/team-lock`, name: "team-lock", level: "ReadOnly" }] }),
      expect: [{ resourceId: SERVICE_ID, status: "fail", message: /^No CanNotDelete or ReadOnly lock protects 'apim1'\. Lock 'team-lock' \(ReadOnly\) .*not re-created/ }],
    },
  ],
  notApplicable: [{ name: "children-only input (service not in the input)", snapshot: stub({ locks: [] }) }],
  unknown: [
    { name: "the lock level is a template expression", snapshot: snap({ locks: [lock(SERVICE_ID, "l", EXPR)] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /template expression/ }] },
    { name: "locks were not collected", snapshot: snap({ needs: ["apis", "tenantAccess"] }), expect: [{ resourceId: SERVICE_ID, status: "unknown", message: /no locks data/ }] },
  ],
});
