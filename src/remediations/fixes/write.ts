/** Shared pieces of remediations: id parsing and how ARM errors are told apart. */
import { parseServiceId, type ServiceRef } from "../../model/arm.js";
import { BlockedError } from "../types.js";

export function serviceOf(resourceId: string): ServiceRef {
  const m = /^(\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.apimanagement\/service\/[^/]+)/i.exec(resourceId);
  const ref = m ? parseServiceId(m[1] as string) : undefined;
  if (!ref) throw new BlockedError(`not an API Management resource: ${resourceId}`);
  return ref;
}

/** The child name after `/<collection>/` in an id, e.g. the API name (with `;rev=N`). */
export function childName(resourceId: string, collection: string): string {
  const m = new RegExp(`/${collection}/([^/]+)`, "i").exec(resourceId);
  if (!m) throw new BlockedError(`no ${collection} in ${resourceId}`);
  return decodeURIComponent(m[1] as string);
}

interface RestLike {
  statusCode?: number;
  code?: string;
}

export const status = (e: unknown): number | undefined => (e as RestLike)?.statusCode;
export const code = (e: unknown): string | undefined => (e as RestLike)?.code;

export const isPreconditionFailed = (e: unknown) => status(e) === 412;
export const isScopeLocked = (e: unknown) => status(e) === 409 && code(e) === "ScopeLocked";
/** 409 for anything else: the service (or API) is busy with another operation. */
export const isBusy = (e: unknown) => status(e) === 409 && code(e) !== "ScopeLocked";
export const isNotFound = (e: unknown) => status(e) === 404;

/** Thrown when a resource is being updated by someone else (provisioningState Updating): retry later. */
export class BusyError extends Error {
  readonly statusCode = 409;
  readonly code = "ServiceUpdating";
}
