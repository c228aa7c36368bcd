// The errors of SandboxdClient: one SandboxdError class per status code, carrying the
// google.rpc.ErrorInfo reason and metadata and the google.rpc.BadRequest field
// violations that sandboxd attaches to every error. Callers branch on `instanceof` or on
// `reason` (a name of sandbox.v1.ErrorReason); an unknown reason is handled by its code.

import { Code, ConnectError } from "@connectrpc/connect";
import type { Duration } from "@bufbuild/protobuf/wkt";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "./gen/google/rpc/error_details_pb.js";
import { SandboxErrorReasonSchema, type Sandbox } from "./gen/sandbox/v1/sandbox_pb.js";

export { Code } from "@connectrpc/connect";

/** The ErrorInfo domain of sandboxd's errors. */
export const ERROR_DOMAIN = "sandboxd.dev";

/** One invalid request field, as google.rpc.BadRequest names it. */
export interface FieldViolation {
  /** The field's path relative to the request message, e.g. "spec.name". */
  field: string;
  description: string;
}

/** What a SandboxdError is made of. */
export interface SandboxdErrorInit {
  code: Code;
  message: string;
  reason?: string;
  domain?: string;
  metadata?: Record<string, string>;
  fieldViolations?: FieldViolation[];
  retryDelayMs?: number;
  cause?: unknown;
}

/** An error of a sandboxd call, or of the client on its behalf (timeout, cancel). */
export class SandboxdError extends Error {
  /** The gRPC status code. */
  readonly code: Code;
  /** ErrorInfo.reason, a name of sandbox.v1.ErrorReason; "" when the error has none. */
  readonly reason: string;
  /** ErrorInfo.domain ("sandboxd.dev" for sandboxd's own errors); "" when absent. */
  readonly domain: string;
  /** ErrorInfo.metadata, e.g. {field, why} for INVALID_FIELD. */
  readonly metadata: Readonly<Record<string, string>>;
  /** BadRequest.field_violations (INVALID_ARGUMENT only); empty otherwise. */
  readonly fieldViolations: readonly FieldViolation[];
  /** RetryInfo.retry_delay in milliseconds, when the server sent one. */
  readonly retryDelayMs: number | undefined;

  constructor(init: SandboxdErrorInit) {
    super(init.message, { cause: init.cause });
    this.name = new.target.name;
    this.code = init.code;
    this.reason = init.reason ?? "";
    this.domain = init.domain ?? "";
    this.metadata = init.metadata ?? {};
    this.fieldViolations = init.fieldViolations ?? [];
    this.retryDelayMs = init.retryDelayMs;
  }

  /** The code's name as gRPC spells it, e.g. "NOT_FOUND". */
  get codeName(): string {
    return codeName(this.code);
  }
}

export class CancelledError extends SandboxdError {}
export class UnknownError extends SandboxdError {}
export class InvalidArgumentError extends SandboxdError {}
export class DeadlineExceededError extends SandboxdError {}
export class SandboxNotFoundError extends SandboxdError {}
export class SandboxAlreadyExistsError extends SandboxdError {}
export class PermissionDeniedError extends SandboxdError {}
export class ResourceExhaustedError extends SandboxdError {}
export class FailedPreconditionError extends SandboxdError {}
export class AbortedError extends SandboxdError {}
export class OutOfRangeError extends SandboxdError {}
export class UnimplementedError extends SandboxdError {}
export class InternalError extends SandboxdError {}
export class UnavailableError extends SandboxdError {}
export class DataLossError extends SandboxdError {}
export class UnauthenticatedError extends SandboxdError {}

/**
 * waitFor: the sandbox reached SANDBOX_PHASE_ERROR. Code FAILED_PRECONDITION; reason is the
 * sandbox's error reason, a sandbox.v1.SandboxErrorReason name (e.g.
 * "SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE"); the message includes the sandbox's message.
 */
export class SandboxPhaseError extends FailedPreconditionError {
  /** The sandbox in its error phase. */
  readonly sandbox: Sandbox;
  constructor(sandbox: Sandbox) {
    const reason = SandboxErrorReasonSchema.values.find((v) => v.number === sandbox.errorReason)?.name ??
      String(sandbox.errorReason);
    super({
      code: Code.FailedPrecondition,
      reason,
      message: `sandbox ${sandbox.spec?.namespace}/${sandbox.spec?.name} is in SANDBOX_PHASE_ERROR ` +
        `(${reason})${sandbox.message ? `: ${sandbox.message}` : ""}`,
    });
    this.sandbox = sandbox;
  }
}

/** waitFor: the sandbox was deleted (or began deletion) while being waited for. */
export class SandboxDeletedError extends SandboxNotFoundError {
  constructor(namespace: string, name: string) {
    super({
      code: Code.NotFound,
      reason: "SANDBOX_NOT_FOUND",
      message: `sandbox ${namespace}/${name} was deleted while waiting for it`,
    });
  }
}

type ErrorClass = new (init: SandboxdErrorInit) => SandboxdError;

const classByCode: ReadonlyMap<Code, ErrorClass> = new Map<Code, ErrorClass>([
  [Code.Canceled, CancelledError],
  [Code.Unknown, UnknownError],
  [Code.InvalidArgument, InvalidArgumentError],
  [Code.DeadlineExceeded, DeadlineExceededError],
  [Code.NotFound, SandboxNotFoundError],
  [Code.AlreadyExists, SandboxAlreadyExistsError],
  [Code.PermissionDenied, PermissionDeniedError],
  [Code.ResourceExhausted, ResourceExhaustedError],
  [Code.FailedPrecondition, FailedPreconditionError],
  [Code.Aborted, AbortedError],
  [Code.OutOfRange, OutOfRangeError],
  [Code.Unimplemented, UnimplementedError],
  [Code.Internal, InternalError],
  [Code.Unavailable, UnavailableError],
  [Code.DataLoss, DataLossError],
  [Code.Unauthenticated, UnauthenticatedError],
]);

/** Builds the SandboxdError subclass of init.code. */
export function makeError(init: SandboxdErrorInit): SandboxdError {
  const cls = classByCode.get(init.code) ?? SandboxdError;
  return new cls(init);
}

/**
 * Converts anything a call threw into a SandboxdError, decoding ErrorInfo, BadRequest and
 * RetryInfo from the status details. A SandboxdError is returned as it is.
 */
export function toSandboxdError(thrown: unknown): SandboxdError {
  if (thrown instanceof SandboxdError) return thrown;
  const err = ConnectError.from(thrown);
  const info = safeFind(() => err.findDetails(ErrorInfoSchema))[0];
  const badRequest = safeFind(() => err.findDetails(BadRequestSchema))[0];
  const retryInfo = safeFind(() => err.findDetails(RetryInfoSchema))[0];
  return makeError({
    code: err.code,
    message: err.rawMessage,
    reason: info?.reason,
    domain: info?.domain,
    metadata: info ? { ...info.metadata } : undefined,
    fieldViolations: badRequest?.fieldViolations.map((v) => ({
      field: v.field,
      description: v.description,
    })),
    retryDelayMs: retryInfo?.retryDelay ? durationMs(retryInfo.retryDelay) : undefined,
    cause: thrown,
  });
}

// A detail that does not decode is treated as absent rather than hiding the error.
function safeFind<T>(find: () => T[]): T[] {
  try {
    return find();
  } catch {
    return [];
  }
}

function durationMs(d: Duration): number {
  return Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6);
}

const codeNames: Record<number, string> = {
  [Code.Canceled]: "CANCELLED",
  [Code.Unknown]: "UNKNOWN",
  [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.DeadlineExceeded]: "DEADLINE_EXCEEDED",
  [Code.NotFound]: "NOT_FOUND",
  [Code.AlreadyExists]: "ALREADY_EXISTS",
  [Code.PermissionDenied]: "PERMISSION_DENIED",
  [Code.ResourceExhausted]: "RESOURCE_EXHAUSTED",
  [Code.FailedPrecondition]: "FAILED_PRECONDITION",
  [Code.Aborted]: "ABORTED",
  [Code.OutOfRange]: "OUT_OF_RANGE",
  [Code.Unimplemented]: "UNIMPLEMENTED",
  [Code.Internal]: "INTERNAL",
  [Code.Unavailable]: "UNAVAILABLE",
  [Code.DataLoss]: "DATA_LOSS",
  [Code.Unauthenticated]: "UNAUTHENTICATED",
};

/** The gRPC name of a status code, e.g. "NOT_FOUND". */
export function codeName(code: Code): string {
  return codeNames[code] ?? `CODE_${code}`;
}
