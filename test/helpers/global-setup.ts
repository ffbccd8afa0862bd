/**
 * Starts Azurite (from node_modules, in memory, on free ports) once for the
 * whole run and hands its connection string to the tests; stops it after.
 */
import type { TestProject } from "vitest/node";
import { startAzurite } from "../../src/local/azurite.js";

declare module "vitest" {
  export interface ProvidedContext {
    azuriteConnectionString: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const azurite = await startAzurite();
  project.provide("azuriteConnectionString", azurite.connectionString);
  return () => azurite.stop();
}
