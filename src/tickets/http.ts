/** JSON over HTTP for providers: retries 429/5xx/network errors with backoff, honouring Retry-After. */
import { TicketHttpError } from "./types.js";

export interface HttpOptions {
  retries?: number;
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export async function requestJson<T = unknown>(method: string, url: string, headers: Record<string, string>, body: unknown, options: HttpOptions = {}): Promise<T> {
  const retries = options.retries ?? 3;
  const sleep = options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  let last: TicketHttpError | undefined;
  for (let attempt = 0; attempt <= retries; attempt++) {
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { accept: "application/json", ...(body !== undefined ? { "content-type": headers["content-type"] ?? "application/json" } : {}), ...headers },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      last = new TicketHttpError(0, `${method} ${new URL(url).pathname}: ${(e as Error).message}`);
      await sleep((options.baseDelayMs ?? 500) * 2 ** attempt);
      continue;
    }
    if (res.ok) {
      const text = await res.text();
      return (text ? JSON.parse(text) : undefined) as T;
    }
    const ra = res.headers.get("retry-after");
    const retryAfterMs = ra ? (Number.isFinite(Number(ra)) ? Number(ra) * 1000 : Math.max(0, Date.parse(ra) - Date.now())) : undefined;
    const detail = (await res.text().catch(() => "")).slice(0, 300);
    last = new TicketHttpError(res.status, `${method} ${new URL(url).pathname} answered ${res.status}${detail ? `: ${detail}` : ""}`, retryAfterMs);
    if (!last.retryable || attempt === retries) throw last;
    await sleep(Math.min(60_000, retryAfterMs ?? (options.baseDelayMs ?? 500) * 2 ** attempt));
  }
  throw last ?? new TicketHttpError(0, `${method} ${url}: failed`);
}
