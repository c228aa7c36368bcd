// The options of SandboxdClient and their defaults from SANDBOXD_* environment variables.
// An option given as an argument wins over its variable. TLS files are read once, when
// the options are resolved; the token file is read on every call (transport.ts).

import { readFileSync } from "node:fs";

/** Connection, credential and call options of a SandboxdClient. */
export interface SandboxdClientOptions {
  /**
   * sandboxd's address, "host:port" (TLS unless `plaintext`), or a URL "https://host:port"
   * or "http://host:port" (plaintext h2c). Env: SANDBOXD_ADDR. Required.
   */
  address?: string;
  /**
   * Speak h2c without TLS, for a sandboxd started with --plaintext only (the token then
   * travels in clear). Env: SANDBOXD_PLAINTEXT=1 (or true, yes, on).
   */
  plaintext?: boolean;
  /** PEM of the CA that signs sandboxd's certificate. Default: the system's CAs. */
  ca?: string | Buffer;
  /** File of `ca`. Env: SANDBOXD_CACERT. */
  caFile?: string;
  /** PEM client certificate for mTLS (with `key`). */
  cert?: string | Buffer;
  /** File of `cert`. Env: SANDBOXD_CERT. */
  certFile?: string;
  /** PEM private key of `cert`. */
  key?: string | Buffer;
  /** File of `key`. Env: SANDBOXD_KEY. */
  keyFile?: string;
  /** TLS server name to verify instead of the address's host. */
  serverName?: string;
  /**
   * Bearer token sent as `authorization: Bearer <token>`. Env: SANDBOXD_TOKEN. null (for
   * `token` and `tokenFile` alike): send no token, whatever the environment says (mTLS).
   */
  token?: string | null;
  /**
   * File holding the bearer token; read on every call, so a rotated token is picked up.
   * Used when no `token` is given. Env: SANDBOXD_TOKEN_FILE.
   */
  tokenFile?: string | null;
  /** The namespace of calls that name none. Env: SANDBOXD_NAMESPACE. */
  namespace?: string;
  /**
   * Time limit of a unary call, retries included, in milliseconds; 0: none. Default 30000.
   */
  timeoutMs?: number;
  /** Retries of UNAVAILABLE (unary calls and watch reconnects). */
  retry?: RetryOptions;
}

/** Exponential backoff of retries: initial, doubled per attempt up to max, jittered. */
export interface RetryOptions {
  /** Attempts of a unary call in all (1: no retry). Default 8. */
  maxAttempts?: number;
  /** Delay before the first retry in milliseconds. Default 100. */
  initialBackoffMs?: number;
  /** Longest delay between attempts in milliseconds. Default 5000. */
  maxBackoffMs?: number;
}

/** Per-call options of every SandboxdClient method. */
export interface CallOptions {
  /** Cancels the call (and its retries); the call fails with CancelledError. */
  signal?: AbortSignal;
  /** Time limit of this call in milliseconds, retries included; 0: none. */
  timeoutMs?: number;
}

/** Options with every default applied and every variable read. */
export interface ResolvedOptions {
  baseUrl: string;
  plaintext: boolean;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  serverName?: string;
  token?: string;
  tokenFile?: string;
  namespace?: string;
  timeoutMs: number;
  retry: Required<RetryOptions>;
}

/** Applies the SANDBOXD_* variables of env and the defaults to options. */
export function resolveOptions(
  options: SandboxdClientOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOptions {
  const address = options.address ?? nonEmpty(env.SANDBOXD_ADDR);
  if (address === undefined) throw new Error("no sandboxd address: pass `address` or set SANDBOXD_ADDR");
  const plaintextFlag = options.plaintext ?? parseBool(env.SANDBOXD_PLAINTEXT);
  let baseUrl: string;
  let plaintext: boolean;
  if (/^https?:\/\//.test(address)) {
    plaintext = address.startsWith("http://");
    if (plaintextFlag !== undefined && plaintextFlag !== plaintext) {
      throw new Error(`address ${address} contradicts plaintext=${plaintextFlag}`);
    }
    baseUrl = address.replace(/\/+$/, "");
  } else {
    plaintext = plaintextFlag ?? false;
    baseUrl = `${plaintext ? "http" : "https"}://${address}`;
  }
  const noToken = options.token === null || options.tokenFile === null;
  const token = noToken ? undefined : options.token ?? (options.tokenFile ? undefined : nonEmpty(env.SANDBOXD_TOKEN));
  const tokenFile = noToken || token !== undefined ? undefined : options.tokenFile ?? nonEmpty(env.SANDBOXD_TOKEN_FILE);
  return {
    baseUrl,
    plaintext,
    ca: options.ca ?? fileOption(options.caFile ?? nonEmpty(env.SANDBOXD_CACERT)),
    cert: options.cert ?? fileOption(options.certFile ?? nonEmpty(env.SANDBOXD_CERT)),
    key: options.key ?? fileOption(options.keyFile ?? nonEmpty(env.SANDBOXD_KEY)),
    serverName: options.serverName,
    token,
    tokenFile,
    namespace: options.namespace ?? nonEmpty(env.SANDBOXD_NAMESPACE),
    timeoutMs: options.timeoutMs ?? 30000,
    retry: {
      maxAttempts: options.retry?.maxAttempts ?? 8,
      initialBackoffMs: options.retry?.initialBackoffMs ?? 100,
      maxBackoffMs: options.retry?.maxBackoffMs ?? 5000,
    },
  };
}

function fileOption(path: string | undefined): Buffer | undefined {
  return path === undefined ? undefined : readFileSync(path);
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

function parseBool(v: string | undefined): boolean | undefined {
  if (v === undefined || v === "") return undefined;
  return ["1", "true", "yes", "on"].includes(v.toLowerCase());
}

