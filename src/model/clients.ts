/**
 * The Azure clients a remediation uses, as an interface: src/azure/clients.ts
 * builds them and the engine passes them in, so rules never construct clients.
 */
import type { ApiManagementClient } from "@azure/arm-apimanagement";
import type { AuthorizationManagementClient } from "@azure/arm-authorization";
import type { ManagementLockClient } from "@azure/arm-locks";
import type { ResourceManagementClient } from "@azure/arm-resources";
import type { SecretClient } from "@azure/keyvault-secrets";

export interface RemediationClients {
  apim(subscriptionId: string): ApiManagementClient;
  locks(subscriptionId: string): ManagementLockClient;
  authorization(subscriptionId: string): AuthorizationManagementClient;
  /** Generic ARM reads and writes at an explicit API version (e.g. diagnostic settings, whose category groups @azure/arm-monitor 7 lacks). */
  resources(subscriptionId: string): ResourceManagementClient;
  secrets(vaultUrl?: string): SecretClient;
}
