import { randomUUID } from "node:crypto";
import { parseId } from "./ids.js";

export type ResourceEventType =
  | "Microsoft.Resources.ResourceWriteSuccess"
  | "Microsoft.Resources.ResourceDeleteSuccess"
  | "Microsoft.Resources.ResourceActionSuccess";

/** An event in the Event Grid schema, shaped as ARM's subscription system topic sends it. */
export interface EventGridEvent {
  id: string;
  topic: string;
  subject: string;
  eventType: ResourceEventType;
  eventTime: string;
  data: Record<string, unknown>;
  dataVersion: string;
  metadataVersion: string;
}

export interface Caller {
  principalId: string;
  claims: Record<string, unknown>;
  tenantId: string;
  clientIp: string;
}

export interface EventSink {
  emit(e: EventGridEvent): void;
}

/** Builds the event for a successful write, delete or action on `resourceUri`. */
export function resourceEvent(kind: "write" | "delete" | "action", resourceUri: string, operationName: string, caller: Caller, method: string, url: string): EventGridEvent {
  const p = parseId(resourceUri);
  const sub = p.subscriptionId ?? "";
  const eventType: ResourceEventType =
    kind === "write" ? "Microsoft.Resources.ResourceWriteSuccess" : kind === "delete" ? "Microsoft.Resources.ResourceDeleteSuccess" : "Microsoft.Resources.ResourceActionSuccess";
  const c = caller.claims;
  const claims: Record<string, unknown> = {
    aud: String(c["aud"] ?? "https://management.azure.com/"),
    iss: String(c["iss"] ?? `https://sts.windows.net/${caller.tenantId}/`),
    iat: String(c["iat"] ?? ""),
    nbf: String(c["nbf"] ?? ""),
    exp: String(c["exp"] ?? ""),
    appid: String(c["appid"] ?? c["azp"] ?? ""),
    appidacr: "2",
    "http://schemas.microsoft.com/identity/claims/objectidentifier": caller.principalId,
    "http://schemas.microsoft.com/identity/claims/tenantid": caller.tenantId,
    ver: "1.0",
  };
  if (typeof c["name"] === "string") claims["name"] = c["name"];
  if (typeof c["upn"] === "string") claims["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] = c["upn"];
  const principalType = typeof c["upn"] === "string" ? "User" : "ServicePrincipal";
  return {
    id: randomUUID(),
    topic: `/subscriptions/${sub}`,
    subject: resourceUri,
    eventType,
    eventTime: new Date().toISOString(),
    data: {
      authorization: {
        scope: resourceUri,
        action: operationName,
        evidence: {
          role: "Contributor",
          roleAssignmentScope: `/subscriptions/${sub}`,
          roleAssignmentId: randomUUID().replace(/-/g, ""),
          roleDefinitionId: "b24988ac618042a0ab8820f7382dd24c",
          principalId: caller.principalId.replace(/-/g, ""),
          principalType,
        },
      },
      claims,
      correlationId: randomUUID(),
      httpRequest: { clientRequestId: randomUUID(), clientIpAddress: caller.clientIp, method, url },
      // the provider of the resource itself: for `<scope>/providers/Microsoft.Authorization/locks/x` that is Microsoft.Authorization
      resourceProvider: /.*\/providers\/([^/]+)\//i.exec(resourceUri)?.[1] ?? p.provider ?? "Microsoft.Resources",
      resourceUri,
      operationName,
      status: "Succeeded",
      subscriptionId: sub,
      tenantId: caller.tenantId,
    },
    dataVersion: "2",
    metadataVersion: "1",
  };
}

/** In-memory feed plus an optional webhook (e.g. the local Functions host's Event Grid endpoint). */
export class EventFeed implements EventSink {
  private events: EventGridEvent[] = [];
  private listeners = new Set<(e: EventGridEvent) => void>();
  webhookUrl: string | undefined;
  webhookErrors = 0;

  emit(e: EventGridEvent): void {
    this.events.push(e);
    if (this.events.length > 50_000) this.events.splice(0, this.events.length - 50_000);
    for (const l of this.listeners) l(e);
    if (this.webhookUrl) void this.post(this.webhookUrl, e);
  }

  private async post(url: string, e: EventGridEvent): Promise<void> {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "aeg-event-type": "Notification", "aeg-subscription-name": "apim-remediator" },
        body: JSON.stringify([e]),
      });
      if (!res.ok) this.webhookErrors++;
    } catch {
      this.webhookErrors++;
    }
  }

  on(listener: (e: EventGridEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  list(since = 0): EventGridEvent[] {
    return this.events.slice(since);
  }

  clear(): void {
    this.events = [];
  }
}
