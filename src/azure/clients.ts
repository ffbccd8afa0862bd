/**
 * Builds every Azure client from the configuration. This is the only place
 * that knows whether ARM is real Azure or a loopback emulator: against a
 * loopback endpoint it uses a locally minted token (the emulator checks the
 * shape, not the signature) and relaxes Key Vault's challenge-resource check.
 */
import { Agent } from "node:https";
import { createSecureContext, rootCertificates } from "node:tls";
import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import type { PipelinePolicy, PipelineRequest, PipelineResponse, SendRequest } from "@azure/core-rest-pipeline";
import { DefaultAzureCredential, ManagedIdentityCredential } from "@azure/identity";
import { ApiManagementClient } from "@azure/arm-apimanagement";
import { ManagementLockClient } from "@azure/arm-locks";
import { ResourceManagementClient } from "@azure/arm-resources";
import { SubscriptionClient } from "@azure/arm-resources-subscriptions";
import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { SecretClient } from "@azure/keyvault-secrets";
import { MonitorClient } from "@azure/arm-monitor";
import { ResourceGraphClient } from "@azure/arm-resourcegraph";
import { LRUCache } from "lru-cache";
import type { Config } from "../common/config.js";
import { ARM_LIMITS, ArmPacer, type PacingLimits, type RequestPacer } from "./pacing.js";
import { SharedArmPacer, type SharedBudgetStore } from "./shared-pacing.js";

/** The principal a loopback credential acts as when none is configured. */
export const DEFAULT_LOCAL_PRINCIPAL = "00000000-0000-4000-8000-00000000a11c";
const LOCAL_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/**
 * A credential for the local emulator: an unsigned JWT whose `oid` is the
 * configured principal. Never used against a non-loopback endpoint.
 */
export class LocalTokenCredential implements TokenCredential {
  constructor(
    readonly principalId: string,
    readonly tenantId: string = LOCAL_TENANT,
    readonly claims: Record<string, unknown> = {},
  ) {}

  getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? (scopes[0] ?? "") : scopes;
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const payload = {
      aud: scope.replace(/\/\.default$/, ""),
      iss: `https://sts.windows.net/${this.tenantId}/`,
      iat: now,
      nbf: now,
      exp: now + 3600,
      oid: this.principalId,
      tid: this.tenantId,
      appid: this.principalId,
      sub: this.principalId,
      ...this.claims,
    };
    return Promise.resolve({ token: `${b64({ alg: "none", typ: "JWT" })}.${b64(payload)}.local`, expiresOnTimestamp: (now + 3600) * 1000 });
  }
}

export interface AzureClients {
  credential: TokenCredential;
  apim(subscriptionId: string): ApiManagementClient;
  locks(subscriptionId: string): ManagementLockClient;
  resources(subscriptionId: string): ResourceManagementClient;
  authorization(subscriptionId: string): AuthorizationManagementClient;
  subscriptions(): SubscriptionClient;
  monitor(subscriptionId: string): MonitorClient;
  secrets(vaultUrl?: string): SecretClient;
  /** Azure Resource Graph (tenant-level; not paced by the ARM pacer: src/azure/resource-graph.ts keeps its own quota). */
  resourceGraph?(): ResourceGraphClient;
  /** The ARM request pacer shared by every ARM client here (absent when ARM_PACING is false): per process, or shared through a store. */
  pacer?: RequestPacer;
}

/**
 * One pacer per factory (= per principal, as ARM counts), mirroring ARM's buckets at the configured refill rates:
 * in this process, or, given a budget store, shared with every instance that uses the store.
 */
function createPacer(config: Config, options: ClientFactoryOptions): RequestPacer | undefined {
  const p = config.armPacing;
  if (p && !p.enabled) return undefined;
  const limits: PacingLimits = {
    reads: { capacity: ARM_LIMITS.reads.capacity, refillPerSecond: p?.readsPerSecond ?? ARM_LIMITS.reads.refillPerSecond },
    writes: { capacity: ARM_LIMITS.writes.capacity, refillPerSecond: p?.writesPerSecond ?? ARM_LIMITS.writes.refillPerSecond },
    deletes: { capacity: ARM_LIMITS.deletes.capacity, refillPerSecond: p?.deletesPerSecond ?? ARM_LIMITS.deletes.refillPerSecond },
  };
  if (!options.budgetStore) return new ArmPacer(limits);
  const principal = config.principalId ?? config.managedIdentityClientId ?? "default";
  return new SharedArmPacer({ store: options.budgetStore, principal, limits, ...(options.onPacingFallback ? { onFallback: options.onPacingFallback } : {}) });
}

export interface ClientFactoryOptions {
  /** Overrides the credential (tests acting as another principal, e.g. "a user in the portal"). */
  credential?: TokenCredential;
  /** Called when a request could not be sent (connection refused, reset, timed out, host not found), before the SDK's retry policy tries again. */
  onSendFailure?: (failure: SendFailure) => void;
  /** ARM's budgets shared with the other instances of the app (the Functions app's storage); without it each factory paces alone. */
  budgetStore?: SharedBudgetStore;
  /** Called when the budget store failed and this factory paces alone for a while. */
  onPacingFallback?: (error: unknown) => void;
}

export interface SendFailure {
  /** The host the request went to (never the path or query). */
  host: string;
  /** The error code, e.g. ECONNREFUSED. */
  code: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Retries the policy makes in all (ARM_MAX_RETRIES): when attempt > maxRetries, this was the last one. */
  maxRetries: number;
}

/** The network errors the SDK's retry policy retries (@typespec/ts-http-runtime exponentialRetryStrategy, isSystemError). */
const RETRIED_SEND_ERRORS = new Set(["ETIMEDOUT", "ESOCKETTIMEDOUT", "ECONNREFUSED", "ECONNRESET", "ENOENT", "ENOTFOUND"]);

/**
 * A per-retry pipeline policy that reports each attempt whose request could not be sent, as it happens
 * (the retry policy passes the same request object to every attempt, so attempts are counted per request).
 */
function sendFailurePolicy(maxRetries: number, report: (f: SendFailure) => void): PipelinePolicy {
  const attempts = new WeakMap<PipelineRequest, number>();
  return {
    name: "apimRemediatorSendFailure",
    async sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> {
      const attempt = (attempts.get(request) ?? 0) + 1;
      attempts.set(request, attempt);
      try {
        return await next(request);
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (typeof code === "string" && RETRIED_SEND_ERRORS.has(code)) {
          let host = "";
          try {
            host = new URL(request.url).host;
          } catch {
            host = "";
          }
          report({ host, code, attempt, maxRetries });
        }
        throw e;
      }
    },
  };
}

export function createCredential(config: Config): TokenCredential {
  if (config.armIsLoopback) return new LocalTokenCredential(config.principalId ?? DEFAULT_LOCAL_PRINCIPAL, config.tenantId ?? LOCAL_TENANT);
  if (config.managedIdentityClientId && process.env["IDENTITY_ENDPOINT"]) {
    return new ManagedIdentityCredential({ clientId: config.managedIdentityClientId });
  }
  return new DefaultAzureCredential(config.managedIdentityClientId ? { managedIdentityClientId: config.managedIdentityClientId } : {});
}

/** Clients a factory keeps (per kind and subscription, or vault): far more than the subscriptions one instance evaluates at once. */
export const MAX_CACHED_CLIENTS = 256;

export function createClients(config: Config, options: ClientFactoryOptions = {}): AzureClients {
  const credential = options.credential ?? createCredential(config);
  // with an extra CA (the emulator's), one agent with one TLS context built once: per-request TLS
  // options would rebuild the context from every root certificate for each new connection
  const agent = config.armCa ? new Agent({ keepAlive: true, secureContext: createSecureContext({ ca: [...rootCertificates, config.armCa] }) }) : undefined;
  const pacer = createPacer(config, options);
  const common = {
    endpoint: config.armEndpoint,
    retryOptions: { maxRetries: config.armMaxRetries, retryDelayInMs: 800, maxRetryDelayInMs: 60_000 },
    userAgentOptions: { userAgentPrefix: "apim-remediator" },
    ...(agent ? { agent } : {}),
    // every attempt (retries too) takes a token from its subscription's bucket; a failed send is reported as it happens
    additionalPolicies: [
      ...(pacer ? [{ policy: pacer.policy(), position: "perRetry" as const }] : []),
      ...(options.onSendFailure ? [{ policy: sendFailurePolicy(config.armMaxRetries, options.onSendFailure), position: "perRetry" as const }] : []),
    ],
  };
  // Resource Graph has its own per-user quota (x-ms-user-quota-* headers), not ARM's per-subscription buckets
  const graphOptions = { ...common, additionalPolicies: options.onSendFailure ? [{ policy: sendFailurePolicy(config.armMaxRetries, options.onSendFailure), position: "perRetry" as const }] : [] };
  // the clients most recently used, per kind and subscription: a sweep of thousands of subscriptions would keep a
  // client of each kind for each of them (~30 KB per subscription for its API Management and locks clients together,
  // measured; the estate bench's app ran out of its 192 MB heap 20 min into a sweep of 5,000 services); one evicted
  // while a request still holds it finishes as it is, the next call builds another
  const cache = new LRUCache<string, object>({ max: MAX_CACHED_CLIENTS });
  const memo = <T extends object>(key: string, make: () => T): T => {
    let v = cache.get(key) as T | undefined;
    if (v === undefined) cache.set(key, (v = make()));
    return v;
  };
  return {
    credential,
    ...(pacer ? { pacer } : {}),
    apim: (sub) => memo(`apim|${sub}`, () => new ApiManagementClient(credential, sub, common)),
    locks: (sub) => memo(`locks|${sub}`, () => new ManagementLockClient(credential, sub, common)),
    resources: (sub) => memo(`resources|${sub}`, () => new ResourceManagementClient(credential, sub, common)),
    authorization: (sub) => memo(`authz|${sub}`, () => new AuthorizationManagementClient(credential, sub, common)),
    subscriptions: () => memo("subscriptions", () => new SubscriptionClient(credential, common)),
    monitor: (sub) => memo(`monitor|${sub}`, () => new MonitorClient(credential, sub, common)),
    resourceGraph: () => memo("resourceGraph", () => new ResourceGraphClient(credential, graphOptions)),
    secrets: (vaultUrl) => {
      const url = vaultUrl ?? config.keyVaultUrl;
      if (!url) throw new Error("No Key Vault URL: set KEY_VAULT_URL (or pass --key-vault-url)");
      return memo(`kv|${url}`, () => {
        const vaultOptions: ConstructorParameters<typeof SecretClient>[2] = {
          retryOptions: common.retryOptions,
          userAgentOptions: common.userAgentOptions,
          ...(agent ? { agent } : {}),
          // the emulator serves vaults from 127.0.0.1, which the challenge's resource cannot name
          ...(config.armIsLoopback ? { disableChallengeResourceVerification: true } : {}),
        };
        return new SecretClient(url, credential, vaultOptions);
      });
    },
  };
}
