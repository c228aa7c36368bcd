// Exponential backoff with jitter, an abortable sleep, and which failures to retry.

import { Code, ConnectError } from "@connectrpc/connect";
import type { RetryOptions } from "./config.js";

/**
 * The delay before retry number `attempt` (0 for the first retry): initialBackoffMs
 * doubled per attempt, capped at maxBackoffMs, then scaled by a random factor in
 * [0.5, 1) so that clients do not retry in lockstep. `random` is injectable for tests.
 */
export function backoffMs(
  attempt: number,
  retry: Required<RetryOptions>,
  random: () => number = Math.random,
): number {
  const base = Math.min(retry.maxBackoffMs, retry.initialBackoffMs * 2 ** Math.min(attempt, 30));
  return base * (0.5 + random() / 2);
}

/** Resolves after ms, or rejects with signal.reason as soon as signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Whether a failed call may be repeated: UNAVAILABLE, or the connection broke under it.
 * A broken connection shows as a Node.js socket or HTTP/2 error (which Connect reports as
 * ABORTED or INTERNAL) or, when the peer vanished mid-stream, as the stream's reset with
 * CANCEL that Node.js makes up (reported as CANCELLED, but not the caller's doing: the
 * caller's own abort is checked before this). Every sandboxd method is idempotent, so
 * repeating any of them is safe.
 */
export function isRetryable(code: Code, cause: unknown): boolean {
  return code === Code.Unavailable || hasConnectionError(cause) || isStreamResetByConnectionLoss(code, cause);
}

function isStreamResetByConnectionLoss(code: Code, cause: unknown): boolean {
  return code === Code.Canceled && cause instanceof ConnectError &&
    cause.rawMessage.startsWith("http/2 stream closed with error code CANCEL");
}

const connectionErrorCode = new RegExp(
  "^(ECONNRESET|ECONNREFUSED|ECONNABORTED|EPIPE|ETIMEDOUT|ERR_STREAM_PREMATURE_CLOSE|ERR_STREAM_DESTROYED|" +
    "ERR_HTTP2_(ERROR|STREAM_ERROR|SESSION_ERROR|GOAWAY_SESSION|INVALID_SESSION|STREAM_CANCEL|PING_CANCEL))$",
);

function hasConnectionError(reason: unknown): boolean {
  for (let depth = 0; reason instanceof Error && depth < 10; depth++) {
    const code = (reason as { code?: unknown }).code;
    if (typeof code === "string" && connectionErrorCode.test(code)) return true;
    reason = reason.cause;
  }
  return false;
}
