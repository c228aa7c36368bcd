// SandboxdClient: promise-based calls of sandbox.v1.SandboxLifecycle with retries, typed
// errors, resumable watches and waits for a phase.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { resolveOptions, type CallOptions, type ResolvedOptions, type SandboxdClientOptions } from "./config.js";
import {
  CancelledError,
  Code,
  DeadlineExceededError,
  SandboxDeletedError,
  SandboxNotFoundError,
  SandboxPhaseError,
  SandboxdError,
  toSandboxdError,
} from "./errors.js";
import {
  CreateSandboxRequestSchema,
  DeleteSandboxRequestSchema,
  SandboxLifecycle,
  SandboxPhase,
  SandboxSpecSchema,
  WatchEventType,
  type ListSandboxesResponse,
  type Sandbox,
} from "./gen/sandbox/v1/sandbox_pb.js";
import { backoffMs, isRetryable, sleep } from "./retry.js";
import { createSandboxdTransport, type SandboxdTransport } from "./transport.js";
import { resumableWatch, type WatchEvent, type WatchOptions } from "./watch.js";

/** The spec of a new sandbox (see sandbox.v1.SandboxSpec); namespace defaults to the client's. */
export type SandboxSpecInit = MessageInitShape<typeof SandboxSpecSchema>;

/** Filters of list and watchAll, ANDed. */
export interface SandboxFilter {
  /** Only sandboxes of this project. */
  project?: string;
  /** A Kubernetes label selector over the sandboxes' labels. */
  labelSelector?: string;
}

/** Options of get. */
export interface GetOptions extends CallOptions {
  /** Read from the Kubernetes API server instead of sandboxd's cache. */
  consistentRead?: boolean;
}

/** Options of list. */
export interface ListOptions extends CallOptions, SandboxFilter {
  pageSize?: number;
  pageToken?: string;
  consistentRead?: boolean;
}

/** Options of updateEnv. */
export interface UpdateEnvOptions extends CallOptions {
  /** Names of variables to remove. */
  removeKeys?: string[];
  /** Update only if the sandbox's version is this one (else FailedPreconditionError). */
  expectedVersion?: string;
}

/** Options of delete. */
export interface DeleteOptions extends CallOptions {
  /** Keep the home volume. */
  keepStorage?: boolean;
  /** Succeed when there is no such sandbox. */
  allowMissing?: boolean;
}

/** Options of waitFor and waitForDeleted. */
export interface WaitOptions {
  /** Gives up with DeadlineExceededError after this many milliseconds; 0: never. Default 300000. */
  timeoutMs?: number;
  /** Gives up with CancelledError. */
  signal?: AbortSignal;
}

/**
 * A client of one sandboxd. Thread-safety is moot in Node.js; one client may serve any
 * number of concurrent calls over its one HTTP/2 connection. Every method fails with a
 * SandboxdError subclass (see errors.ts); UNAVAILABLE and broken connections are retried
 * with exponential backoff within the call's time limit.
 */
export class SandboxdClient {
  readonly options: ResolvedOptions;
  private readonly rpc: Client<typeof SandboxLifecycle>;
  private readonly connection: SandboxdTransport;

  /** Options not given are read from SANDBOXD_* variables (see SandboxdClientOptions). */
  constructor(options: SandboxdClientOptions = {}) {
    this.options = resolveOptions(options);
    this.connection = createSandboxdTransport(this.options);
    this.rpc = createClient(SandboxLifecycle, this.connection.transport);
  }

  /**
   * Closes the client's connection, failing its open calls and watches. An idle
   * connection also closes by itself after 30 s, so a process need not call this to exit.
   */
  close(): void {
    this.connection.close();
  }

  /** The namespace of calls that name none (SANDBOXD_NAMESPACE). */
  get namespace(): string | undefined {
    return this.options.namespace;
  }

  /** Creates a sandbox, or returns the existing one of an identical spec. */
  async create(spec: SandboxSpecInit, options: CallOptions = {}): Promise<Sandbox> {
    const request = create(CreateSandboxRequestSchema, {
      spec: { ...spec, namespace: spec.namespace || this.options.namespace || "" },
    });
    const response = await this.call((o) => this.rpc.createSandbox(request, o), options);
    return required(response.sandbox);
  }

  /** The sandbox namespace/name; SandboxNotFoundError if there is none. */
  async get(namespace: string, name: string, options: GetOptions = {}): Promise<Sandbox> {
    const request = { namespace, name, consistentRead: options.consistentRead ?? false };
    const response = await this.call((o) => this.rpc.getSandbox(request, o), options);
    return required(response.sandbox);
  }

  /** One page of the namespace's sandboxes, ordered by name. */
  async list(namespace: string, options: ListOptions = {}): Promise<ListSandboxesResponse> {
    const request = {
      namespace,
      project: options.project ?? "",
      labelSelector: options.labelSelector ?? "",
      pageSize: options.pageSize ?? 0,
      pageToken: options.pageToken ?? "",
      consistentRead: options.consistentRead ?? false,
    };
    return this.call((o) => this.rpc.listSandboxes(request, o), options);
  }

  /** Every sandbox of the namespace matching options, page by page. */
  async *listAll(namespace: string, options: ListOptions = {}): AsyncGenerator<Sandbox, void, undefined> {
    let pageToken = options.pageToken ?? "";
    do {
      const page = await this.list(namespace, { ...options, pageToken });
      yield* page.sandboxes;
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
  }

  /** Scales the sandbox to one replica; the sandbox after the change. */
  async start(namespace: string, name: string, options: CallOptions = {}): Promise<Sandbox> {
    const response = await this.call((o) => this.rpc.startSandbox({ namespace, name }, o), options);
    return required(response.sandbox);
  }

  /** Scales the sandbox to zero replicas, keeping its volume; the sandbox after the change. */
  async stop(namespace: string, name: string, options: CallOptions = {}): Promise<Sandbox> {
    const response = await this.call((o) => this.rpc.stopSandbox({ namespace, name }, o), options);
    return required(response.sandbox);
  }

  /** Sets the variables of env and removes options.removeKeys; the sandbox after the update. */
  async updateEnv(
    namespace: string,
    name: string,
    env: Record<string, string>,
    options: UpdateEnvOptions = {},
  ): Promise<Sandbox> {
    const request = {
      namespace,
      name,
      env,
      removeKeys: options.removeKeys ?? [],
      expectedVersion: options.expectedVersion,
    };
    const response = await this.call((o) => this.rpc.updateSandboxEnv(request, o), options);
    return required(response.sandbox);
  }

  /** Deletes the sandbox (deletion goes on in the background; see waitForDeleted). */
  async delete(namespace: string, name: string, options: DeleteOptions = {}): Promise<void> {
    const request = create(DeleteSandboxRequestSchema, {
      namespace,
      name,
      keepStorage: options.keepStorage ?? false,
      allowMissing: options.allowMissing ?? false,
    });
    await this.call((o) => this.rpc.deleteSandbox(request, o), options);
  }

  /**
   * The events of one sandbox, which need not exist yet: ADDED (if it exists),
   * INITIAL_STATE_COMPLETE, then every change; reconnected and resumed without a gap on
   * UNAVAILABLE or a broken connection (see resumableWatch). Stop by leaving the loop.
   */
  watch(namespace: string, name: string, options: WatchOptions = {}): AsyncGenerator<WatchEvent, void, undefined> {
    return resumableWatch(
      (resumeToken, signal) => this.rpc.watchSandbox({ namespace, name, resumeToken }, { signal }),
      this.options.retry,
      options,
    );
  }

  /** The events of every sandbox of the namespace that matches filter (as watch). */
  watchAll(
    namespace: string,
    filter: SandboxFilter = {},
    options: WatchOptions = {},
  ): AsyncGenerator<WatchEvent, void, undefined> {
    const request = { namespace, project: filter.project ?? "", labelSelector: filter.labelSelector ?? "" };
    return resumableWatch(
      (resumeToken, signal) => this.rpc.watchSandboxes({ ...request, resumeToken }, { signal }),
      this.options.retry,
      options,
    );
  }

  /**
   * Resolves with the sandbox once it is in `phase`. Fails fast with SandboxPhaseError when
   * it reaches SANDBOX_PHASE_ERROR, with SandboxNotFoundError when it does not exist when
   * the wait begins, and with SandboxDeletedError when it is deleted or starts deletion
   * (unless those are the phase waited for), as the other sandboxd clients do.
   * DeadlineExceededError after options.timeoutMs.
   */
  async waitFor(namespace: string, name: string, phase: SandboxPhase, options: WaitOptions = {}): Promise<Sandbox> {
    let seen = false; // the sandbox has been seen since the watch's last RESET
    const found = await this.waitUntil(namespace, name, options, (event) => {
      const sandbox = event.sandbox;
      switch (event.type) {
        case WatchEventType.RESET:
          seen = false;
          return undefined;
        case WatchEventType.INITIAL_STATE_COMPLETE:
          if (seen) return undefined;
          throw new SandboxNotFoundError({
            code: Code.NotFound,
            reason: "SANDBOX_NOT_FOUND",
            message: `sandbox ${namespace}/${name} does not exist`,
          });
        case WatchEventType.DELETED:
          throw new SandboxDeletedError(namespace, name);
        default:
          break;
      }
      if (sandbox === undefined) return undefined;
      seen = true;
      if (sandbox.phase === phase) return sandbox;
      if (sandbox.phase === SandboxPhase.ERROR) throw new SandboxPhaseError(sandbox);
      if (sandbox.phase === SandboxPhase.DELETING) throw new SandboxDeletedError(namespace, name);
      return undefined;
    });
    return found;
  }

  /** Resolves once the sandbox no longer exists (at once if it does not). */
  async waitForDeleted(namespace: string, name: string, options: WaitOptions = {}): Promise<void> {
    let exists = false;
    await this.waitUntil(namespace, name, options, (event) => {
      switch (event.type) {
        case WatchEventType.RESET:
          exists = false;
          return undefined;
        case WatchEventType.ADDED:
        case WatchEventType.MODIFIED:
          exists = true;
          return undefined;
        case WatchEventType.DELETED:
          return true;
        case WatchEventType.INITIAL_STATE_COMPLETE:
          return exists ? undefined : true;
        default:
          return undefined;
      }
    });
  }

  // Feeds the sandbox's events to decide until it returns a value (or throws).
  private async waitUntil<T>(
    namespace: string,
    name: string,
    options: WaitOptions,
    decide: (event: WatchEvent) => T | undefined,
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? 300000;
    const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
    const signals = [options.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 0 ? AbortSignal.any(signals) : undefined;
    try {
      for await (const event of this.watch(namespace, name, { signal })) {
        const result = decide(event);
        if (result !== undefined) return result;
      }
      throw new Error("unreachable: the watch ended");
    } catch (e) {
      if (timeout?.aborted && !options.signal?.aborted && e instanceof CancelledError) {
        throw new DeadlineExceededError({
          code: Code.DeadlineExceeded,
          reason: "DEADLINE_EXCEEDED",
          message: `sandbox ${namespace}/${name}: gave up waiting after ${timeoutMs} ms`,
          cause: e,
        });
      }
      throw e;
    }
  }

  // Runs a unary call with the time limit and retries of options.
  private async call<T>(
    invoke: (o: { signal?: AbortSignal; timeoutMs?: number }) => Promise<T>,
    options: CallOptions,
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
    const { maxAttempts } = this.options.retry;
    for (let attempt = 0; ; attempt++) {
      const remaining = deadline === undefined ? undefined : Math.max(1, deadline - Date.now());
      let error: SandboxdError;
      try {
        return await invoke({ signal: options.signal, timeoutMs: remaining });
      } catch (thrown) {
        error = toSandboxdError(thrown);
        if (options.signal?.aborted || attempt + 1 >= maxAttempts || !isRetryable(error.code, thrown)) throw error;
      }
      const delay = backoffMs(attempt, this.options.retry);
      if (deadline !== undefined && Date.now() + delay >= deadline) throw error;
      try {
        await sleep(delay, options.signal);
      } catch (reason) {
        throw new CancelledError({
          code: Code.Canceled,
          reason: "REQUEST_CANCELLED",
          message: "the call was cancelled",
          cause: reason,
        });
      }
    }
  }
}

// sandboxd always sets the sandbox of a response; its absence is a protocol error.
function required(sandbox: Sandbox | undefined): Sandbox {
  if (sandbox === undefined) {
    throw new SandboxdError({ code: Code.Internal, reason: "INTERNAL_ERROR", message: "the response carries no sandbox" });
  }
  return sandbox;
}
