/**
 * Which ticket system to use, from app settings (Key Vault references in Azure):
 * TICKET_PROVIDER = none | webhook | github | azure-devops | jira | servicenow,
 * plus that provider's TICKET_* settings. A bad setting fails with one line.
 */
import type { TokenCredential } from "@azure/core-auth";
import { z } from "zod";
import { ConfigError, type Env } from "../common/config.js";
import { AzureDevOpsProvider } from "./azure-devops.js";
import { GitHubProvider } from "./github.js";
import type { HttpOptions } from "./http.js";
import { JiraProvider } from "./jira.js";
import { ServiceNowProvider } from "./servicenow.js";
import type { TicketProvider } from "./types.js";
import { WebhookProvider } from "./webhook.js";

const url = z.string().url().refine((u) => /^https?:\/\//.test(u)).transform((u) => u.replace(/\/+$/, ""));

function need(env: Env, name: string, expected: string, schema: z.ZodType = z.string().min(1)): string {
  const raw = env[name]?.trim();
  const r = schema.safeParse(raw);
  if (!raw || !r.success) throw new ConfigError(name, expected, raw);
  return r.data as string;
}

function opt(env: Env, name: string, dflt: string): string {
  const v = env[name]?.trim();
  return v ? v : dflt;
}

export const TICKET_PROVIDERS = ["none", "webhook", "github", "azure-devops", "jira", "servicenow"] as const;

export function ticketProviderFromEnv(env: Env, credential?: TokenCredential, http: HttpOptions = {}): TicketProvider | undefined {
  const kind = (env["TICKET_PROVIDER"]?.trim() || "none") as (typeof TICKET_PROVIDERS)[number];
  if (!TICKET_PROVIDERS.includes(kind)) throw new ConfigError("TICKET_PROVIDER", `one of ${TICKET_PROVIDERS.map((p) => `"${p}"`).join(", ")}`, env["TICKET_PROVIDER"]);
  switch (kind) {
    case "none":
      return undefined;
    case "webhook":
      return new WebhookProvider(need(env, "TICKET_WEBHOOK_URL", "an http(s) URL", url), need(env, "TICKET_WEBHOOK_SECRET", "a shared secret for the HMAC-SHA256 signature (at least 16 characters)", z.string().min(16)), http);
    case "github":
      return new GitHubProvider(
        {
          apiUrl: opt(env, "TICKET_GITHUB_API_URL", "https://api.github.com").replace(/\/+$/, ""),
          repo: need(env, "TICKET_GITHUB_REPO", "owner/name of the repository", z.string().regex(/^[\w.-]+\/[\w.-]+$/)),
          token: need(env, "TICKET_GITHUB_TOKEN", "a token with issues read/write"),
        },
        http,
      );
    case "azure-devops": {
      const pat = env["TICKET_ADO_PAT"]?.trim();
      if (!pat && !credential) throw new ConfigError("TICKET_ADO_PAT", "a personal access token (or run with an Entra identity)", undefined);
      return new AzureDevOpsProvider(
        {
          orgUrl: need(env, "TICKET_ADO_ORG_URL", "the organization URL, e.g. https://dev.azure.com/contoso", url),
          project: need(env, "TICKET_ADO_PROJECT", "the project name"),
          workItemType: opt(env, "TICKET_ADO_WORK_ITEM_TYPE", "Issue"),
          ...(env["TICKET_ADO_CLOSED_STATE"]?.trim() ? { closedState: env["TICKET_ADO_CLOSED_STATE"].trim() } : {}),
          ...(env["TICKET_ADO_OPEN_STATE"]?.trim() ? { openState: env["TICKET_ADO_OPEN_STATE"].trim() } : {}),
          ...(env["TICKET_ADO_AREA_PATH"]?.trim() ? { areaPath: env["TICKET_ADO_AREA_PATH"].trim() } : {}),
          ...(pat ? { pat } : { credential }),
        },
        http,
      );
    }
    case "jira":
      return new JiraProvider(
        {
          baseUrl: need(env, "TICKET_JIRA_URL", "the Jira Cloud site URL, e.g. https://contoso.atlassian.net", url),
          email: need(env, "TICKET_JIRA_EMAIL", "the account email for the API token"),
          apiToken: need(env, "TICKET_JIRA_TOKEN", "an API token"),
          project: need(env, "TICKET_JIRA_PROJECT", "the project key, e.g. SEC", z.string().regex(/^[A-Z][A-Z0-9_]+$/)),
          issueType: opt(env, "TICKET_JIRA_ISSUE_TYPE", "Task"),
          doneTransition: opt(env, "TICKET_JIRA_DONE_TRANSITION", "Done"),
          reopenTransition: opt(env, "TICKET_JIRA_REOPEN_TRANSITION", "To Do"),
        },
        http,
      );
    case "servicenow":
      return new ServiceNowProvider(
        {
          instanceUrl: need(env, "TICKET_SNOW_URL", "the instance URL, e.g. https://contoso.service-now.com", url),
          user: need(env, "TICKET_SNOW_USER", "the integration user"),
          password: need(env, "TICKET_SNOW_PASSWORD", "the integration user's password"),
          table: opt(env, "TICKET_SNOW_TABLE", "incident"),
        },
        http,
      );
  }
}
