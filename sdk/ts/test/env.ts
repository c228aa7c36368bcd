// The environment that tests/sdk/with_sandboxd.sh gives the integration tests.

import { randomBytes } from "node:crypto";
import { SandboxdClient, type SandboxdClientOptions } from "../src/index.js";

/** A variable the suite needs; fails the test when with_sandboxd.sh did not set it. */
export function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite under tests/sdk/with_sandboxd.sh`);
  return value;
}

/** A client of the test's sandboxd (plaintext h2c), configured from SANDBOXD_* variables. */
export function testClient(options: SandboxdClientOptions = {}): SandboxdClient {
  return new SandboxdClient({ plaintext: true, ...options });
}

/** The tenant namespace of the run. */
export function namespace(): string {
  return required("SANDBOXD_NAMESPACE");
}

/** A fresh sandbox name (a DNS-1123 label) starting with prefix. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString("hex")}`;
}

/** Time limit of waits for a phase: kwok pods run within seconds. */
export const WAIT_MS = 120_000;
