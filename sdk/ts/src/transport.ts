// The gRPC-over-HTTP/2 transport of SandboxdClient: TLS (optionally mTLS) or plaintext
// h2c, and the bearer token on every call.

import { readFile } from "node:fs/promises";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { SecureClientSessionOptions } from "node:http2";
import type { ResolvedOptions } from "./config.js";

/** A transport to options.baseUrl that sends options' credentials. */
export function createSandboxdTransport(options: ResolvedOptions): Transport {
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
  return createGrpcTransport({ baseUrl: options.baseUrl, interceptors, nodeOptions });
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
