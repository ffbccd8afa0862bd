/**
 * Azure Storage access for the Functions app (queues now, tables later),
 * from the same settings the Functions host uses: `AzureWebJobsStorage` as a
 * connection string, or identity-based `AzureWebJobsStorage__queueServiceUri`.
 */
import type { TokenCredential } from "@azure/core-auth";
import { QueueServiceClient, type StoragePipelineOptions } from "@azure/storage-queue";
import type { Env } from "./config.js";

export function queueServiceFromEnv(env: Env, credential: TokenCredential, options: StoragePipelineOptions = {}): QueueServiceClient | undefined {
  const conn = env["AzureWebJobsStorage"];
  if (conn && conn.trim() !== "") {
    // also understands UseDevelopmentStorage=true (Azurite's default ports)
    return QueueServiceClient.fromConnectionString(conn, options);
  }
  const uri = env["AzureWebJobsStorage__queueServiceUri"] ?? (env["AzureWebJobsStorage__accountName"] ? `https://${env["AzureWebJobsStorage__accountName"]}.queue.core.windows.net` : undefined);
  return uri ? new QueueServiceClient(uri, credential, options) : undefined;
}
