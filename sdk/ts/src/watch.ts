// A watch stream that outlives its connection: on UNAVAILABLE or a broken connection it
// reconnects with backoff and resumes from the resume token of the last event the caller
// processed, so no change is skipped (one may be repeated).

import type { RetryOptions } from "./config.js";
import { CancelledError, Code, toSandboxdError } from "./errors.js";
import { WatchEventType, type Sandbox } from "./gen/sandbox/v1/sandbox_pb.js";
import { backoffMs, isRetryable, sleep } from "./retry.js";

export { WatchEventType } from "./gen/sandbox/v1/sandbox_pb.js";

/** One message of a watch stream (WatchSandboxResponse or WatchSandboxesResponse). */
export interface WatchEvent {
  /**
   * ADDED, MODIFIED, DELETED, INITIAL_STATE_COMPLETE, or RESET: the caller discards the
   * state it built; a fresh initial state (ADDED..., INITIAL_STATE_COMPLETE) follows.
   */
  type: WatchEventType;
  /** The sandbox, for ADDED, MODIFIED and DELETED. */
  sandbox?: Sandbox;
  /** Pass as WatchOptions.resumeToken to continue after this event later. */
  resumeToken: string;
}

/** Options of watch and watchAll. */
export interface WatchOptions {
  /** Ends the stream: the iterator throws CancelledError. */
  signal?: AbortSignal;
  /** Continue after this token (of an earlier stream with the same request). */
  resumeToken?: string;
  /** Called before each reconnect, with the error that ended the stream (for logging). */
  onReconnect?: (error: Error, attempt: number) => void;
}

/** Opens one stream of the watch, resuming after resumeToken ("" for the initial state). */
export type OpenStream = (resumeToken: string, signal: AbortSignal | undefined) => AsyncIterable<WatchEvent>;

/**
 * The events of open(), reconnected forever until the caller stops iterating, aborts
 * options.signal, or a stream fails with an error that is not retryable (thrown as a
 * SandboxdError). An event's token counts as processed once the caller asks for the
 * next event, so a reconnect resumes after the last event the caller has seen through.
 * A stream that ends cleanly (which sandboxd does not do) is reconnected too.
 */
export async function* resumableWatch(
  open: OpenStream,
  retry: Required<RetryOptions>,
  options: WatchOptions = {},
): AsyncGenerator<WatchEvent, void, undefined> {
  const { signal } = options;
  let token = options.resumeToken ?? "";
  let failures = 0;
  for (;;) {
    try {
      for await (const event of open(token, signal)) {
        failures = 0;
        yield { type: event.type, sandbox: event.sandbox, resumeToken: event.resumeToken };
        token = event.resumeToken;
      }
    } catch (thrown) {
      if (signal?.aborted) throw cancelled(signal);
      const error = toSandboxdError(thrown);
      if (!isRetryable(error.code, thrown)) throw error;
      options.onReconnect?.(error, failures + 1);
    }
    try {
      await sleep(backoffMs(failures++, retry), signal);
    } catch {
      throw cancelled(signal);
    }
  }
}

function cancelled(signal: AbortSignal | undefined): CancelledError {
  return new CancelledError({
    code: Code.Canceled,
    reason: "REQUEST_CANCELLED",
    message: "the watch was cancelled",
    cause: signal?.reason,
  });
}
