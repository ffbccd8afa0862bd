/**
 * The Azure DevOps Boards provider against a local fake of the REST API
 * (test/helpers/fake-azure-devops.ts): the ticket life cycle on the Basic and
 * Agile processes, PAT and Entra auth, refused credentials, retries on 429 and
 * 5xx, HTML-safe bodies, WIQL escaping, and TicketManager end to end.
 */
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Finding, Rule } from "../../src/remediations/types.js";
import { RULES } from "../../src/remediations/index.js";
import { AZURE_DEVOPS_SCOPE, AzureDevOpsProvider, markdownToHtml, type AzureDevOpsOptions } from "../../src/tickets/azure-devops.js";
import { buildTicket } from "../../src/tickets/content.js";
import { MemoryTicketStore, TicketManager, type SyncInput } from "../../src/tickets/manager.js";
import { TicketHttpError, type TicketContent } from "../../src/tickets/types.js";
import { startFakeAzureDevOps, type FakeAzureDevOps, type FakeAzureDevOpsOptions } from "../helpers/fake-azure-devops.js";

const SERVICE = "/subscriptions/8f3c2a51-6d4e-4b7a-9c1f-2e5d7a9b0c34/resourceGroups/rg-apim-prod/providers/Microsoft.ApiManagement/service/apim-contoso";
const RULE = RULES.find((r) => r.meta.id === "api-https-only") as Rule;
const FAST = { sleep: () => Promise.resolve(), baseDelayMs: 1 };

function finding(status: "fail" | "pass" = "fail", api = "echo"): Finding {
  return {
    ruleId: RULE.meta.id,
    resourceId: `${SERVICE}/apis/${api}`,
    status,
    severity: RULE.meta.severity,
    message: status === "fail" ? `API '${api}' accepts http; only https/wss should be allowed.` : `API '${api}' accepts only encrypted protocols.`,
    action: "auto",
  };
}

function ticket(api = "echo"): TicketContent {
  return buildTicket({ rule: RULE, finding: finding("fail", api), serviceId: SERVICE, outcome: "reported", reason: "dry-run" });
}

/** Text of an HTML fragment as a reader sees it. */
function textOf(html: string): string {
  return html
    .replace(/<[^>]*>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");
}

let fake: FakeAzureDevOps;
async function useFake(o: FakeAzureDevOpsOptions = {}): Promise<FakeAzureDevOps> {
  await fake?.stop();
  fake = await startFakeAzureDevOps(o);
  return fake;
}
function provider(extra: Partial<AzureDevOpsOptions> = {}, http = {}): AzureDevOpsProvider {
  return new AzureDevOpsProvider({ orgUrl: fake.orgUrl, project: fake.project, workItemType: "Issue", pat: fake.pat, ...extra }, http);
}
const requestsTo = (pattern: RegExp, method?: string) => fake.requests.filter((r) => pattern.test(r.path) && (!method || r.method === method));

beforeEach(async () => {
  await useFake();
});
afterEach(async () => {
  await fake.stop();
});

describe("AzureDevOpsProvider", () => {
  it("opens, finds, comments, closes, finds closed, reopens and finds the newest (Basic process, PAT)", async () => {
    const p = provider();
    const content = ticket();

    const ref = await p.open(content);
    expect(ref).toEqual({ id: "1", url: `${fake.orgUrl}/Platform%20Security/_workitems/edit/1`, state: "open" });
    const [create] = requestsTo(/\/_apis\/wit\/workitems\/\$Issue$/, "POST");
    expect(create?.path).toBe("/contoso/Platform Security/_apis/wit/workitems/$Issue");
    expect(create?.query).toEqual({ "api-version": "7.1" });
    expect(create?.contentType).toBe("application/json-patch+json");
    expect(create?.authorization).toBe(`Basic ${Buffer.from(`:${fake.pat}`).toString("base64")}`);
    const ops = create?.body as Array<{ op: string; path: string; value: unknown }>;
    expect(ops.map((o) => o.path).sort()).toEqual(["/fields/Microsoft.VSTS.Common.Priority", "/fields/System.Description", "/fields/System.Tags", "/fields/System.Title"]);
    const item = fake.items.get(1);
    expect(item?.fields["System.Title"]).toBe(content.title);
    expect(item?.fields["Microsoft.VSTS.Common.Priority"]).toBe(2); // high
    expect(item?.fields["System.State"]).toBe("To Do");
    expect(fake.tagsOf(1)).toEqual(expect.arrayContaining(["apim-remediator", `apim-fp:${content.fingerprint}`, "apim-rule:api-https-only", "severity:high"]));
    expect(String(item?.fields["System.Description"])).toContain("<h3>What is wrong</h3>");
    expect(String(item?.fields["System.Description"])).toContain(`<a href="https://portal.azure.com/#resource${SERVICE}/apis/echo"><code>apim-contoso/apis/echo</code></a>`);

    expect(await p.find(content.fingerprint)).toEqual({ id: "1", url: ref.url, state: "open" });
    const [wiql] = requestsTo(/\/_apis\/wit\/wiql$/, "POST");
    expect(wiql?.query).toEqual({ $top: "1", "api-version": "7.1" });
    expect((wiql?.body as { query: string }).query).toBe(
      `SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project AND [System.Tags] CONTAINS 'apim-fp:${content.fingerprint}' ORDER BY [System.ChangedDate] DESC`,
    );
    expect(await p.find("0".repeat(32))).toBeUndefined();

    await p.comment(ref, "Still present at **noon**.");
    const [comment] = requestsTo(/\/comments$/, "POST");
    expect(comment?.query).toEqual({ "api-version": "7.1-preview.4" });
    expect(comment?.body).toEqual({ text: "<p>Still present at <strong>noon</strong>.</p>" });
    expect(fake.items.get(1)?.comments.map((c) => c.via)).toEqual(["comments"]);

    await p.close(ref, "Resolved: the resource is compliant again.");
    expect(fake.items.get(1)?.fields["System.State"]).toBe("Done");
    expect(fake.items.get(1)?.comments.at(-1)).toMatchObject({ via: "history", text: "<p>Resolved: the resource is compliant again.</p>" });
    expect(await p.find(content.fingerprint)).toEqual({ id: "1", url: ref.url, state: "closed" });

    const reopened = await p.reopen({ ...ref, state: "closed" }, content, "The drift is back.");
    expect(reopened).toEqual({ id: "1", url: ref.url, state: "open" });
    expect(fake.items.get(1)?.fields["System.State"]).toBe("To Do");
    expect(fake.items.get(1)?.comments.at(-1)?.text).toBe("<p>The drift is back.</p>");
    expect(await p.find(content.fingerprint)).toEqual({ id: "1", url: ref.url, state: "open" });

    // two work items carry the fingerprint (a copy made by hand): the most recently changed one wins
    const copy = await p.open(content);
    expect(copy.id).toBe("2");
    expect((await p.find(content.fingerprint))?.id).toBe("2");
    await p.comment(ref, "touched");
    expect((await p.find(content.fingerprint))?.id).toBe("1");

    // the work item type is read once
    expect(requestsTo(/\/_apis\/wit\/workitemtypes\//, "GET")).toHaveLength(1);
    expect(requestsTo(/\/_apis\/wit\/workitemtypes\//, "GET")[0]?.path).toBe("/contoso/Platform Security/_apis/wit/workitemtypes/Issue");
  });

  it("uses Severity, Priority and Repro Steps on an Agile Bug, and the Agile state names", async () => {
    await useFake({ process: "agile" });
    const p = provider({ workItemType: "Bug" });
    const content = ticket();
    const ref = await p.open(content);
    const item = fake.items.get(Number(ref.id));
    expect(item?.fields["Microsoft.VSTS.Common.Severity"]).toBe("2 - High");
    expect(item?.fields["Microsoft.VSTS.Common.Priority"]).toBe(2);
    expect(item?.fields["Microsoft.VSTS.TCM.ReproSteps"]).toBe(item?.fields["System.Description"]);
    expect(item?.fields["System.State"]).toBe("New");

    await p.close(ref, "gone");
    expect(fake.items.get(1)?.fields["System.State"]).toBe("Closed");
    expect((await p.find(content.fingerprint))?.state).toBe("closed");
    await p.reopen({ ...ref, state: "closed" }, content, "back");
    expect(fake.items.get(1)?.fields["System.State"]).toBe("New");
    expect((await p.find(content.fingerprint))?.state).toBe("open");

    // an Agile Issue has no Proposed state: it reopens to Active
    const issues = provider({ workItemType: "Issue" });
    const other = ticket("orders");
    const iref = await issues.open(other);
    expect(fake.items.get(Number(iref.id))?.fields["System.State"]).toBe("Active");
    expect(fake.items.get(Number(iref.id))?.fields["Microsoft.VSTS.Common.Severity"]).toBeUndefined();
    await issues.close(iref, "gone");
    expect(fake.items.get(Number(iref.id))?.fields["System.State"]).toBe("Closed");
    await issues.reopen({ ...iref, state: "closed" }, other, "back");
    expect(fake.items.get(Number(iref.id))?.fields["System.State"]).toBe("Active");
  });

  it("uses the configured state names, and reads a custom closed state as closed", async () => {
    await useFake({ process: "agile" });
    const p = provider({ workItemType: "User Story", closedState: "Resolved", openState: "Active" });
    const content = ticket();
    const ref = await p.open(content);
    expect(requestsTo(/\/workitems\/\$User Story$/, "POST")).toHaveLength(1);
    await p.close(ref, "gone");
    expect(fake.items.get(1)?.fields["System.State"]).toBe("Resolved");
    expect((await p.find(content.fingerprint))?.state).toBe("closed");
    await p.reopen({ ...ref, state: "closed" }, content, "back");
    expect(fake.items.get(1)?.fields["System.State"]).toBe("Active");
    expect((await p.find(content.fingerprint))?.state).toBe("open");
    // a state outside the type is refused by the service, and the error says so
    const wrong = provider({ workItemType: "User Story", closedState: "Finished" });
    const err = await wrong.close(ref, "gone").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TicketHttpError);
    expect((err as TicketHttpError).status).toBe(400);
    expect((err as TicketHttpError).message).toMatch(/Rule Error for field State/);
  });

  it("authenticates with an Entra token for Azure DevOps, fetched once", async () => {
    const getToken = vi.fn((): Promise<AccessToken> => Promise.resolve({ token: fake.bearerToken, expiresOnTimestamp: Date.now() + 3600_000 }));
    const credential: TokenCredential = { getToken };
    const p = provider({ pat: undefined, credential });
    const content = ticket();
    const ref = await p.open(content);
    await p.comment(ref, "hello");
    expect((await p.find(content.fingerprint))?.id).toBe(ref.id);
    expect(getToken).toHaveBeenCalledTimes(1);
    expect(getToken).toHaveBeenCalledWith(AZURE_DEVOPS_SCOPE);
    expect(AZURE_DEVOPS_SCOPE).toBe("499b84ac-1321-427f-aa17-267ca6975798/.default");
    expect(new Set(fake.requests.map((r) => r.authorization))).toEqual(new Set([`Bearer ${fake.bearerToken}`]));

    // a token Azure DevOps does not take: 401, and the token is in no message
    const badToken = "eyJ.bad-token-value.sig";
    const refused = provider({ pat: undefined, credential: { getToken: () => Promise.resolve({ token: badToken, expiresOnTimestamp: Date.now() + 3600_000 }) } });
    const err = (await refused.find(content.fingerprint).catch((e: unknown) => e)) as TicketHttpError;
    expect(err).toBeInstanceOf(TicketHttpError);
    expect(err.status).toBe(401);
    expect(err.message).toMatch(/Entra identity was not accepted/);
    expect(err.message).not.toContain(badToken);
  });

  it("reports refused credentials as a clear 401 TicketHttpError without the credential, and does not retry", async () => {
    const pat = "wrong-pat-abcdefghijklmnopqrstuvwxyz0123456789";
    const sleep = vi.fn(() => Promise.resolve());
    const p = provider({ pat }, { sleep, baseDelayMs: 1 });
    const err = (await p.open(ticket()).catch((e: unknown) => e)) as TicketHttpError;
    expect(err).toBeInstanceOf(TicketHttpError);
    expect(err.status).toBe(401);
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/^azure-devops: the personal access token was not accepted/);
    expect(err.message).toContain("TF400813");
    expect(err.message).not.toContain(pat);
    expect(err.message).not.toContain(Buffer.from(`:${pat}`).toString("base64"));
    expect(fake.requests).toHaveLength(1);
    expect(sleep).not.toHaveBeenCalled();
    expect(fake.items.size).toBe(0);

    // the service's sign-in page (203, HTML) is a refusal too
    fake.signInPage = true;
    const page = (await p.find("abc").catch((e: unknown) => e)) as TicketHttpError;
    expect(page).toBeInstanceOf(TicketHttpError);
    expect(page.status).toBe(401);
    expect(page.message).toMatch(/sign-in page/);
    expect(page.message).not.toContain(pat);
  });

  it("retries a 429 after its Retry-After, then succeeds", async () => {
    const sleep = vi.fn((_ms: number) => Promise.resolve());
    const p = provider({}, { sleep, baseDelayMs: 1 });
    const content = ticket();
    await p.open(content);
    fake.requests.length = 0;
    fake.failNext(1, 429, 7);
    expect((await p.find(content.fingerprint))?.id).toBe("1");
    expect(fake.requests.map((r) => `${r.method} ${r.status} ${r.path.split("/").pop()}`)).toEqual(["POST 429 wiql", "POST 200 wiql", "GET 200 1"]);
    expect(sleep).toHaveBeenCalledTimes(1);
    expect(sleep).toHaveBeenCalledWith(7000);
  });

  it("retries 500 twice then succeeds, and gives up after the retries", async () => {
    const p = provider({}, FAST);
    const ref = await p.open(ticket());
    fake.failNext(2, 500);
    await p.comment(ref, "still there");
    expect(requestsTo(/\/comments$/, "POST").map((r) => r.status)).toEqual([500, 500, 200]);
    expect(fake.items.get(1)?.comments).toHaveLength(1);

    fake.failNext(4, 503);
    const err = (await p.comment(ref, "again").catch((e: unknown) => e)) as TicketHttpError;
    expect(err).toBeInstanceOf(TicketHttpError);
    expect(err.status).toBe(503);
    expect(err.retryable).toBe(true);
    expect(fake.items.get(1)?.comments).toHaveLength(1);
  });

  it("keeps Markdown/HTML special characters safe in the description, comments and title", async () => {
    const p = provider({}, FAST);
    const nasty = [
      `## Heading <i>x</i>`,
      `Text with <script>alert("x")</script> & 'quotes' <img src=x onerror=alert(1)> and **bold <b>**.`,
      `- [evil](javascript:alert(1)) and [ok](https://example.com/?a=1&b=<2>)`,
      "```",
      `<b>code</b> & "more"`,
      "```",
      "`<tt>` | pipes | and ]]>",
    ].join("\n");
    const base = ticket();
    const content: TicketContent = { ...base, title: `[apim-remediator] <b>Title</b> & "quoted" 'x'`, body: nasty };
    const ref = await p.open(content);
    const description = String(fake.items.get(1)?.fields["System.Description"]);
    expect(description).not.toMatch(/<(script|img|i|b|tt)[\s>]/i);
    expect(description).not.toContain('href="javascript');
    expect(description).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(description).toContain('<a href="https://example.com/?a=1&amp;b=&lt;2&gt;">ok</a>');
    expect(description).toContain("<pre><code>&lt;b&gt;code&lt;/b&gt; &amp; &quot;more&quot;</code></pre>");
    expect(description).toContain("<h2>Heading &lt;i&gt;x&lt;/i&gt;</h2>");
    // what a reader sees is the text that was written
    expect(textOf(description)).toContain(`Text with <script>alert("x")</script> & 'quotes' <img src=x onerror=alert(1)> and bold <b>.`);
    expect(textOf(description)).toContain(`<b>code</b> & "more"`);
    // the title is a plain-text field: kept as written
    expect(fake.items.get(1)?.fields["System.Title"]).toBe(content.title);

    await p.comment(ref, `<script>alert(1)</script> & done`);
    const text = fake.items.get(1)?.comments.at(-1)?.text ?? "";
    expect(text).toBe("<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; done</p>");

    // a fingerprint with a quote cannot break out of the WIQL literal
    expect(await p.find(`x' OR [System.Id] <> '0`)).toBeUndefined();
    expect((requestsTo(/\/wiql$/).at(-1)?.body as { query: string }).query).toContain(`CONTAINS 'apim-fp:x'' OR [System.Id] <> ''0'`);
    expect(requestsTo(/\/wiql$/).at(-1)?.status).toBe(200);
  });

  it("closes a deleted work item as a no-op and reopens it as a new one", async () => {
    const p = provider({}, FAST);
    const content = ticket();
    const ref = await p.open(content);
    fake.items.delete(1);
    await expect(p.close(ref, "gone")).resolves.toBeUndefined();
    const again = await p.reopen({ ...ref, state: "closed" }, content, "back");
    expect(again.id).toBe("2");
    expect(again.state).toBe("open");
    expect(fake.tagsOf(2)).toContain(`apim-fp:${content.fingerprint}`);
  });

  it("the fake refuses what the service refuses", async () => {
    const auth = { authorization: `Basic ${Buffer.from(`:${fake.pat}`).toString("base64")}` };
    const base = `${fake.orgUrl}/${encodeURIComponent(fake.project)}/_apis/wit`;
    const post = (path: string, body: unknown, contentType = "application/json-patch+json") => fetch(`${base}${path}`, { method: "POST", headers: { ...auth, "content-type": contentType }, body: JSON.stringify(body) });
    const title = [{ op: "add", path: "/fields/System.Title", value: "t" }];
    expect((await post("/workitems/$Issue?api-version=7.1", title, "application/json")).status).toBe(415);
    expect((await post("/workitems/$Issue", title)).status).toBe(400); // no api-version
    expect((await post("/workitems/$Issue?api-version=7.1", { op: "add" })).status).toBe(400); // not an array
    expect((await post("/workitems/$Issue?api-version=7.1", [{ op: "add", path: "/fields/System.Description", value: "d" }])).status).toBe(400); // no title
    const sev = await post("/workitems/$Issue?api-version=7.1", [...title, { op: "add", path: "/fields/Microsoft.VSTS.Common.Severity", value: "2 - High" }]);
    expect(sev.status).toBe(400);
    expect(((await sev.json()) as { message: string }).message).toMatch(/^TF51535/);
    expect((await post("/workitems/$Issue?api-version=7.1", [...title, { op: "add", path: "/fields/System.State", value: "Closed" }])).status).toBe(400);
    expect((await post("/workitems/$Issue?api-version=7.1", [...title, { op: "add", path: "/fields/System.Rev", value: 3 }])).status).toBe(400);
    expect((await post("/workitems/$Epic?api-version=7.1", title)).status).toBe(404);
    expect((await post("/workitems/$Issue?api-version=7.1", title)).status).toBe(200);
    expect((await post("/workItems/1/comments?api-version=7.1", { text: "x" }, "application/json")).status).toBe(400); // preview flag required
    expect((await post("/workItems/1/comments?api-version=7.1-preview.4", { nope: "x" }, "application/json")).status).toBe(400);
    expect((await post("/workItems/9/comments?api-version=7.1-preview.4", { text: "x" }, "application/json")).status).toBe(404);
    expect((await post("/wiql?api-version=7.1", { query: "SELECT [System.Id] WorkItems" }, "application/json")).status).toBe(400);
    expect((await post("/wiql?api-version=7.1", { query: "SELECT [System.Id] FROM WorkItems WHERE [System.Nope] = 'x'" }, "application/json")).status).toBe(400);
    expect((await post("/wiql?api-version=7.1", { q: "x" }, "application/json")).status).toBe(400);
    const ok = await post("/wiql?api-version=7.1", { query: "SELECT [System.Id] FROM WorkItems WHERE [System.Tags] CONTAINS 'apim' ORDER BY [System.Id]" }, "application/json");
    expect(((await ok.json()) as { workItems: unknown[] }).workItems).toEqual([]); // whole tags only
    const noAuth = await fetch(`${base}/workitems/1?api-version=7.1`);
    expect(noAuth.status).toBe(401);
    const wrongProject = await fetch(`${fake.orgUrl}/Other/_apis/wit/workitems/1?api-version=7.1`, { headers: auth });
    expect(wrongProject.status).toBe(404);
  });

  it("renders a real ticket body as HTML", () => {
    const html = markdownToHtml(ticket().body);
    expect(html).toMatch(/^<p><strong>Severity:<\/strong> high/);
    expect(html).toContain("<h3>Why it matters</h3>");
    expect(html).toContain("<hr/>");
    expect(html).toMatch(/<li>Azure Policy: <a href="https:\/\/portal\.azure\.com\/#view\/Microsoft_Azure_Policy\//);
  });
});

describe("TicketManager with the Azure DevOps provider", () => {
  it("opens one work item per drift, finds it again when the store is lost, closes and reopens it", async () => {
    const p = provider({}, FAST);
    const input = (drift: boolean, correlationId: string): SyncInput => ({
      serviceId: SERVICE,
      correlationId,
      rulesEvaluated: [RULE.meta.id],
      findings: [finding(drift ? "fail" : "pass")],
      drifts: drift ? [{ rule: RULE, finding: finding("fail"), outcome: "reported", reason: "dry-run" }] : [],
    });
    const store = new MemoryTicketStore();
    const manager = new TicketManager(p, store);
    const fp = ticket().fingerprint;

    const first = await manager.sync(input(true, "eval-1"));
    expect(first.opened).toEqual([fp]);
    expect(first.errors).toEqual([]);
    expect(fake.items.size).toBe(1);
    expect(store.items.get(fp)).toMatchObject({ ticketId: "1", state: "open", provider: "azure-devops" });

    const second = await manager.sync(input(true, "eval-2"));
    expect(second).toMatchObject({ opened: [], reopened: [], errors: [] });
    expect(fake.items.size).toBe(1);

    // the mapping table is lost: the work item is found by its fingerprint tag
    const lostStore = new MemoryTicketStore();
    const rebuilt = new TicketManager(p, lostStore);
    const third = await rebuilt.sync(input(true, "eval-3"));
    expect(third).toMatchObject({ opened: [], commented: [fp], errors: [] });
    expect(fake.items.size).toBe(1);
    expect(lostStore.items.get(fp)).toMatchObject({ ticketId: "1", state: "open" });

    const gone = await rebuilt.sync(input(false, "eval-4"));
    expect(gone.closed).toEqual([fp]);
    expect(fake.items.get(1)?.fields["System.State"]).toBe("Done");
    expect(lostStore.items.get(fp)?.state).toBe("closed");

    const back = await rebuilt.sync(input(true, "eval-5"));
    expect(back).toMatchObject({ reopened: [fp], opened: [], errors: [] });
    expect(fake.items.size).toBe(1);
    expect(fake.items.get(1)?.fields["System.State"]).toBe("To Do");
    expect(fake.items.get(1)?.comments.at(-1)?.text).toContain("The drift is back (evaluation eval-5)");
    expect(lostStore.items.get(fp)).toMatchObject({ ticketId: "1", state: "open" });
  });
});
