/**
 * What the CLI says when talking to Azure fails: one line that says what to do, instead of the SDK's
 * paragraph (no sign-in), a bare OpenSSL code (an untrusted certificate) or a stack trace.
 */
import { AggregateAuthenticationError, CredentialUnavailableError } from "@azure/identity";

const UNTRUSTED_CERT = new Set(["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "ERR_TLS_CERT_ALTNAME_INVALID"]);
const UNREACHABLE = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ESOCKETTIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** The credentials DefaultAzureCredential tries, in its order (@azure/identity 4.x, defaultAzureCredential.ts). */
const DEFAULT_CHAIN = "environment variables (AZURE_TENANT_ID, AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH), workload identity, managed identity, Azure CLI, Azure PowerShell, Azure Developer CLI";

function hostOf(e: unknown): string | undefined {
  const url = (e as { request?: { url?: unknown } }).request?.url;
  if (typeof url !== "string") return undefined;
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

export interface ExplainContext {
  /** The ARM endpoint in use (named when the host is not known). */
  armEndpoint?: string;
  /** How many attempts a request that could not be sent had (the retries shown on stderr). */
  attempts?: number;
}

/** One line for an error of signing in or of reaching Azure; undefined for any other error. */
export function explainAzureError(e: unknown, ctx: ExplainContext = {}): string | undefined {
  const name = (e as { name?: unknown }).name;
  if (e instanceof AggregateAuthenticationError || name === "AggregateAuthenticationError") {
    const tried = (e as AggregateAuthenticationError).errors?.length;
    return `not signed in to Azure: no credential gave a token${tried ? ` (${tried} tried: ${DEFAULT_CHAIN})` : ` (tried: ${DEFAULT_CHAIN})`}; run \`az login\` (and \`az account set --subscription <id>\`), or on Azure set AZURE_CLIENT_ID to the managed identity's client id`;
  }
  if (e instanceof CredentialUnavailableError || name === "CredentialUnavailableError") {
    return `not signed in to Azure: ${firstLine((e as Error).message)}; run \`az login\`, or on Azure check the managed identity (AZURE_CLIENT_ID, IDENTITY_ENDPOINT)`;
  }
  const code = (e as { code?: unknown }).code;
  if (typeof code !== "string") return undefined;
  const host = hostOf(e) ?? (ctx.armEndpoint ? safeHost(ctx.armEndpoint) : undefined) ?? "the endpoint";
  if (UNTRUSTED_CERT.has(code)) {
    return `the TLS certificate of ${host} is not trusted (${code}): pass the CA that issued it with --ca-file <pem> (env ARM_CA_FILE); for the local emulator, the caFile it printed`;
  }
  if (code === "CERT_HAS_EXPIRED") return `the TLS certificate of ${host} has expired (${code})`;
  if (UNREACHABLE.has(code)) {
    const what = code === "ENOTFOUND" || code === "EAI_AGAIN" ? "host not found" : code === "ECONNREFUSED" ? "connection refused" : "no connection";
    return `cannot reach ${host}: ${what} (${code}${ctx.attempts && ctx.attempts > 1 ? ` on all ${ctx.attempts} attempts` : ""}); check --arm-endpoint (env ARM_ENDPOINT) and that the service is listening`;
  }
  return undefined;
}

function safeHost(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

function firstLine(s: string): string {
  return (s.split("\n")[0] ?? "").trim();
}
