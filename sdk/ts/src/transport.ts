// The gRPC-over-HTTP/2 transport of SandboxdClient: TLS (optionally mTLS) or plaintext
// h2c, and the bearer token on every call.

import { readFile } from "node:fs/promises";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { SecureClientSessionOptions } from "node:http2";
import type { ResolvedOptions } from "./config.js";

/** A transport and the HTTP/2 connection under it. */
export interface SandboxdTransport {
  transport: Transport;
  /** Closes the connection and every stream on it; a later call connects again. */
  close(): void;
}

// An idle connection (no open call) closes after this, so that a forgotten client does
// not keep the Node.js process alive for long.
const IDLE_CONNECTION_TIMEOUT_MS = 30_000;

/** A transport to options.baseUrl that sends options' credentials. */
export function createSandboxdTransport(options: ResolvedOptions): SandboxdTransport {
  const interceptors: Interceptor[] = [];
  if (options.token !== undefined || options.tokenFile !== undefined) {
    interceptors.push(bearerToken(options.token, options.tokenFile));
  }
  const nodeOptions: SecureClientSessionOptions = {};
  if (!options.plaintext) {
    if (options.ca !== undefined) nodeOptions.ca = options.ca;
    if (options.cert !== undefined) nodeOptions.cert = options.cert;
    if (options.key !== undefined) nodeOptions.key = options.key;
    if (options.serverName !== undefined) nodeOptions.servername = options.serverName;
  }
  const sessionManager = new Http2SessionManager(
    options.baseUrl,
    { idleConnectionTimeoutMs: IDLE_CONNECTION_TIMEOUT_MS },
    nodeOptions,
  );
  return {
    transport: createGrpcTransport({ baseUrl: options.baseUrl, interceptors, sessionManager }),
    close: () => sessionManager.abort(),
  };
}

// Sets `authorization: Bearer <token>`; a token file is read per call (tokens rotate).
function bearerToken(token: string | undefined, tokenFile: string | undefined): Interceptor {
  return (next) => async (req) => {
    const value = token ?? (await readTokenFile(tokenFile as string));
    req.header.set("authorization", `Bearer ${value}`);
    return next(req);
  };
}

async function readTokenFile(path: string): Promise<string> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (e) {
    throw new ConnectError(`cannot read the token file ${path}: ${(e as Error).message}`,
      Code.Unauthenticated, undefined, undefined, e);
  }
}
