/**
 * The principal the CLI acts as, for its audit records: the `oid` claim of the ARM token the
 * credential returns (the signed-in user's or the service principal's object id). The token is
 * decoded here and dropped; it is never logged or printed.
 */
import type { TokenCredential } from "@azure/core-auth";

/** The `oid` claim of a JWT's payload; undefined when the token is not a JWT or has none. */
export function principalOfToken(token: string): string | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    const oid = claims["oid"];
    return typeof oid === "string" && oid.length > 0 ? oid : undefined;
  } catch {
    return undefined;
  }
}

/** Asks the credential for an ARM token (as the SDK clients will) and returns its principal; errors (no sign-in) propagate. */
export async function actingPrincipal(credential: TokenCredential, armEndpoint: string): Promise<string | undefined> {
  const scope = `${new URL(armEndpoint).origin}/.default`;
  const token = await credential.getToken(scope);
  return token ? principalOfToken(token.token) : undefined;
}
