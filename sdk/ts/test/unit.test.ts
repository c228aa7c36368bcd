// The parts of the SDK that need no server: decoding of error details, options from the
// environment, backoff.

import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "../src/gen/google/rpc/error_details_pb.js";
import {
  InvalidArgumentError,
  ResourceExhaustedError,
  SandboxdError,
  UnavailableError,
  resolveOptions,
  toSandboxdError,
} from "../src/index.js";
import { backoffMs, isRetryable } from "../src/retry.js";

// An error as the gRPC transport hands it over: details still encoded.
function wireError(code: Code, message: string, details: { type: string; value: Uint8Array }[]): ConnectError {
  const error = new ConnectError(message, code);
  error.details = details;
  return error;
}

test("ErrorInfo and BadRequest decode into InvalidArgumentError", () => {
  const error = toSandboxdError(wireError(Code.InvalidArgument, "spec.name: must be a DNS-1123 label", [
    {
      type: "google.rpc.ErrorInfo",
      value: toBinary(ErrorInfoSchema, create(ErrorInfoSchema, {
        reason: "INVALID_FIELD", domain: "sandboxd.dev", metadata: { field: "spec.name", why: "bad" },
      })),
    },
    {
      type: "google.rpc.BadRequest",
      value: toBinary(BadRequestSchema, create(BadRequestSchema, {
        fieldViolations: [{ field: "spec.name", description: "must be a DNS-1123 label" }],
      })),
    },
  ]));
  assert.ok(error instanceof InvalidArgumentError);
  assert.ok(error instanceof SandboxdError);
  assert.equal(error.name, "InvalidArgumentError");
  assert.equal(error.message, "spec.name: must be a DNS-1123 label");
  assert.equal(error.reason, "INVALID_FIELD");
  assert.deepEqual(error.metadata, { field: "spec.name", why: "bad" });
  assert.deepEqual(error.fieldViolations, [{ field: "spec.name", description: "must be a DNS-1123 label" }]);
  assert.equal(error.retryDelayMs, undefined);
});

test("RetryInfo decodes into retryDelayMs", () => {
  const error = toSandboxdError(wireError(Code.ResourceExhausted, "slow down", [
    {
      type: "google.rpc.RetryInfo",
      value: toBinary(RetryInfoSchema, create(RetryInfoSchema, { retryDelay: durationFromMs(1500) })),
    },
  ]));
  assert.ok(error instanceof ResourceExhaustedError);
  assert.equal(error.retryDelayMs, 1500);
  assert.equal(error.reason, "");
  assert.equal(error.fieldViolations.length, 0);
});

test("an error without details keeps its code", () => {
  const error = toSandboxdError(new ConnectError("gone", Code.Unavailable));
  assert.ok(error instanceof UnavailableError);
  assert.equal(error.codeName, "UNAVAILABLE");
  assert.equal(toSandboxdError(error), error);
});

test("options come from SANDBOXD_* variables; arguments win", () => {
  const env = {
    SANDBOXD_ADDR: "sandboxd.example:443",
    SANDBOXD_TOKEN: "t0ken",
    SANDBOXD_NAMESPACE: "team-a",
  };
  const fromEnv = resolveOptions({}, env);
  assert.equal(fromEnv.baseUrl, "https://sandboxd.example:443");
  assert.equal(fromEnv.plaintext, false);
  assert.equal(fromEnv.token, "t0ken");
  assert.equal(fromEnv.namespace, "team-a");
  assert.equal(fromEnv.timeoutMs, 30000);

  const given = resolveOptions({ address: "http://127.0.0.1:9000", namespace: "b", tokenFile: "/t" }, env);
  assert.equal(given.baseUrl, "http://127.0.0.1:9000");
  assert.equal(given.plaintext, true);
  assert.equal(given.namespace, "b");
  assert.equal(given.token, undefined);
  assert.equal(given.tokenFile, "/t");

  const none = resolveOptions({ token: null }, { ...env, SANDBOXD_TOKEN_FILE: "/t" });
  assert.equal(none.token, undefined);
  assert.equal(none.tokenFile, undefined);

  const plain = resolveOptions({}, { SANDBOXD_ADDR: "127.0.0.1:1", SANDBOXD_PLAINTEXT: "1" });
  assert.equal(plain.baseUrl, "http://127.0.0.1:1");
  assert.throws(() => resolveOptions({ address: "https://x:1", plaintext: true }, {}));
  assert.throws(() => resolveOptions({}, {}), /SANDBOXD_ADDR/);
});

test("backoff doubles up to the maximum, jittered into [half, whole)", () => {
  const retry = { maxAttempts: 8, initialBackoffMs: 100, maxBackoffMs: 1000 };
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((a) => backoffMs(a, retry, () => 0)), [50, 100, 200, 400, 500, 500]);
  assert.equal(backoffMs(2, retry, () => 0.999999), 400 * (0.5 + 0.999999 / 2));
});

test("UNAVAILABLE and broken connections are retryable, server errors are not", () => {
  assert.equal(isRetryable(Code.Unavailable, undefined), true);
  const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  assert.equal(isRetryable(Code.Aborted, new ConnectError("x", Code.Aborted, undefined, undefined, reset)), true);
  assert.equal(isRetryable(Code.Aborted, new ConnectError("x", Code.Aborted)), false);
  assert.equal(isRetryable(Code.NotFound, new ConnectError("x", Code.NotFound)), false);
  const vanished = new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled);
  assert.equal(isRetryable(Code.Canceled, vanished), true);
  assert.equal(isRetryable(Code.Canceled, new ConnectError("connection aborted", Code.Canceled)), false);
});
