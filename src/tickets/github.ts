// Placeholder replaced by the provider's implementation in this change.
import type { HttpOptions } from "./http.js";
import type { TicketContent, TicketProvider, TicketRef } from "./types.js";

export type GitHubOptions = { apiUrl: string; repo: string; token: string };

export class GitHubProvider implements TicketProvider {
  readonly name = "github";
  constructor(
    readonly options: GitHubOptions,
    readonly http: HttpOptions = {},
  ) {}
  find(_fp: string): Promise<TicketRef | undefined> {
    return Promise.reject(new Error("github provider is being written"));
  }
  open(_c: TicketContent): Promise<TicketRef> {
    return Promise.reject(new Error("github provider is being written"));
  }
  comment(_r: TicketRef, _t: string): Promise<void> {
    return Promise.reject(new Error("github provider is being written"));
  }
  close(_r: TicketRef, _t: string): Promise<void> {
    return Promise.reject(new Error("github provider is being written"));
  }
  reopen(_r: TicketRef, _c: TicketContent, _t: string): Promise<TicketRef> {
    return Promise.reject(new Error("github provider is being written"));
  }
}
