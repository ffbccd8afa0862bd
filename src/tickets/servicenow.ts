// Placeholder replaced by the provider's implementation in this change.
import type { HttpOptions } from "./http.js";
import type { TicketContent, TicketProvider, TicketRef } from "./types.js";

export type ServiceNowOptions = { instanceUrl: string; user: string; password: string; table: string };

export class ServiceNowProvider implements TicketProvider {
  readonly name = "servicenow";
  constructor(
    readonly options: ServiceNowOptions,
    readonly http: HttpOptions = {},
  ) {}
  find(_fp: string): Promise<TicketRef | undefined> {
    return Promise.reject(new Error("servicenow provider is being written"));
  }
  open(_c: TicketContent): Promise<TicketRef> {
    return Promise.reject(new Error("servicenow provider is being written"));
  }
  comment(_r: TicketRef, _t: string): Promise<void> {
    return Promise.reject(new Error("servicenow provider is being written"));
  }
  close(_r: TicketRef, _t: string): Promise<void> {
    return Promise.reject(new Error("servicenow provider is being written"));
  }
  reopen(_r: TicketRef, _c: TicketContent, _t: string): Promise<TicketRef> {
    return Promise.reject(new Error("servicenow provider is being written"));
  }
}
