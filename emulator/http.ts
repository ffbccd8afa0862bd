import type { IncomingMessage, ServerResponse } from "node:http";

/** An error that becomes an ARM-shaped error response. */
export class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** API Management's own errors carry `details` (null when there are none: policy #3); ARM's do not. */
    readonly details?: unknown,
    /** Key Vault's errors name the exact cause in `innererror.code` (e.g. ObjectIsDeletedButRecoverable, ForbiddenByRbac). */
    readonly innererror?: string,
  ) {
    super(message);
  }
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export function errorReply(e: ArmError): Reply {
  const error: Record<string, unknown> = e.details === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, details: e.details };
  if (e.innererror !== undefined) error["innererror"] = { code: e.innererror };
  return { status: e.status, body: { error }, headers: e.headers };
}

export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY_BYTES) throw new ArmError(413, "RequestEntityTooLarge", "The request body is too large.");
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export function parseJsonBody(text: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.");
  }
  return parsed as Record<string, unknown>;
}

export function send(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...(reply.headers ?? {}) };
  let payload: string | undefined;
  if (reply.body !== undefined) {
    payload = JSON.stringify(reply.body);
    headers["content-type"] ??= "application/json; charset=utf-8";
    headers["content-length"] = String(Buffer.byteLength(payload));
  } else {
    headers["content-length"] = "0";
  }
  res.writeHead(reply.status, headers);
  res.end(payload);
}

/** Decodes a JWT payload without verifying it (the emulator trusts any well-formed token). */
export function decodeJwt(token: string): Record<string, unknown> | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const json = Buffer.from(parts[1].replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8");
    const claims = JSON.parse(json) as unknown;
    if (claims && typeof claims === "object" && !Array.isArray(claims)) return claims as Record<string, unknown>;
  } catch {
    return undefined;
  }
  return undefined;
}

export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers["authorization"];
  if (typeof h !== "string") return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h.trim());
  return m?.[1];
}

/** Strips quotes and the weak prefix so ETags compare by value. */
export function etagValue(tag: string): string {
  return tag.trim().replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
