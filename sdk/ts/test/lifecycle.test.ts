// The lifecycle of one sandbox through SandboxdClient against a real sandboxd, and the
// typed errors of bad requests.

import assert from "node:assert/strict";
import { createServer, type AddressInfo } from "node:net";
import { after, test } from "node:test";
import {
  CancelledError,
  Code,
  DeadlineExceededError,
  InvalidArgumentError,
  SandboxNotFoundError,
  SandboxPhase,
  UnauthenticatedError,
  WatchEventType,
} from "../src/index.js";
import { namespace, required, testClient, uniqueName, WAIT_MS } from "./env.js";

const client = testClient();
const ns = namespace();
const name = uniqueName("ts-life");

after(async () => {
  await client.delete(ns, name, { allowMissing: true });
  client.close();
});

test("create, wait RUNNING, update env, stop, start, delete", async () => {
  const created = await client.create({ name, env: { GREETING: "hello" } });
  assert.equal(created.spec?.name, name);
  assert.equal(created.spec?.namespace, ns);
  assert.equal(created.spec?.env["GREETING"], "hello");
  assert.equal(created.desiredReplicas, 1);
  assert.notEqual(created.uid, "");

  // Creating again with the same spec is idempotent.
  const again = await client.create({ name, env: { GREETING: "hello" } });
  assert.equal(again.uid, created.uid);

  const running = await client.waitFor(ns, name, SandboxPhase.RUNNING, { timeoutMs: WAIT_MS });
  assert.equal(running.phase, SandboxPhase.RUNNING);
  assert.equal(running.readyReplicas, 1);

  const updated = await client.updateEnv(ns, name, { COLOR: "blue" }, { removeKeys: ["GREETING"] });
  assert.deepEqual({ ...updated.spec?.env }, { COLOR: "blue" });
  assert.notEqual(updated.version, created.version);
  const read = await client.get(ns, name, { consistentRead: true });
  assert.deepEqual({ ...read.spec?.env }, { COLOR: "blue" });

  const stopping = await client.stop(ns, name);
  assert.equal(stopping.desiredReplicas, 0);
  const stopped = await client.waitFor(ns, name, SandboxPhase.STOPPED, { timeoutMs: WAIT_MS });
  assert.equal(stopped.readyReplicas, 0);
  assert.equal(stopped.storage?.uid, running.storage?.uid);

  const starting = await client.start(ns, name);
  assert.equal(starting.desiredReplicas, 1);
  const restarted = await client.waitFor(ns, name, SandboxPhase.RUNNING, { timeoutMs: WAIT_MS });
  assert.equal(restarted.storage?.uid, running.storage?.uid, "the same home volume is bound again");

  const listed = await client.list(ns);
  assert.ok(listed.sandboxes.some((s) => s.spec?.name === name));

  await client.delete(ns, name);
  await client.waitForDeleted(ns, name, { timeoutMs: WAIT_MS });
  await assert.rejects(client.get(ns, name, { consistentRead: true }), SandboxNotFoundError);
});

test("a bad name is InvalidArgumentError naming spec.name", async () => {
  const error = await client.create({ name: "Not_A_Label" }).then(
    () => assert.fail("the create succeeded"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof InvalidArgumentError, `got ${String(error)}`);
  assert.equal(error.code, Code.InvalidArgument);
  assert.equal(error.codeName, "INVALID_ARGUMENT");
  assert.equal(error.reason, "INVALID_FIELD");
  assert.equal(error.domain, "sandboxd.dev");
  assert.equal(error.metadata["field"], "spec.name");
  assert.equal(error.fieldViolations.length, 1);
  assert.equal(error.fieldViolations[0]?.field, "spec.name");
  assert.notEqual(error.fieldViolations[0]?.description, "");
});

test("a missing sandbox is SandboxNotFoundError", async () => {
  const missing = uniqueName("ts-missing");
  for (const call of [
    () => client.get(ns, missing),
    () => client.start(ns, missing),
    () => client.delete(ns, missing),
  ]) {
    const error = await call().then(
      () => assert.fail("the call succeeded"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof SandboxNotFoundError, `got ${String(error)}`);
    assert.equal(error.code, Code.NotFound);
    assert.equal(error.reason, "SANDBOX_NOT_FOUND");
    assert.equal(error.domain, "sandboxd.dev");
  }
  await client.delete(ns, missing, { allowMissing: true });
});

test("the token may come from a file; no token or a bad one is UnauthenticatedError", async () => {
  const fromFile = testClient({ tokenFile: required("SANDBOXD_TOKEN_FILE") });
  assert.equal(fromFile.options.token, undefined);
  await fromFile.list(ns);
  fromFile.close();

  const noToken = testClient({ token: null });
  const missing = await noToken.list(ns).then(
    () => assert.fail("the call succeeded"),
    (e: unknown) => e,
  );
  noToken.close();
  assert.ok(missing instanceof UnauthenticatedError, `got ${String(missing)}`);
  assert.equal(missing.reason, "MISSING_CREDENTIALS");

  const badToken = testClient({ token: "not-a-token" });
  const error = await badToken.list(ns).then(
    () => assert.fail("the call succeeded"),
    (e: unknown) => e,
  );
  badToken.close();
  assert.ok(error instanceof UnauthenticatedError, `got ${String(error)}`);
  assert.equal(error.code, Code.Unauthenticated);
  assert.equal(error.reason, "INVALID_CREDENTIALS");
});

test("a call or watch ends with CancelledError when its signal aborts", async () => {
  await assert.rejects(client.list(ns, { signal: AbortSignal.abort() }), CancelledError);

  const controller = new AbortController();
  const watch = client.watchAll(ns, {}, { signal: controller.signal });
  let events = 0;
  const error = await (async () => {
    for await (const event of watch) {
      events++;
      if (event.type === WatchEventType.INITIAL_STATE_COMPLETE) controller.abort();
    }
  })().then(
    () => assert.fail("the watch ended without an error"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof CancelledError, `got ${String(error)}`);
  assert.equal(error.code, Code.Canceled);
  assert.ok(events >= 1);
});

test("a call past its time limit is DeadlineExceededError", async () => {
  // A server that accepts the connection and never answers.
  const silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const stalled = testClient({ address: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` });
  try {
    const started = Date.now();
    const error = await stalled.list(ns, { timeoutMs: 300 }).then(
      () => assert.fail("the call succeeded"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof DeadlineExceededError, `got ${String(error)}`);
    assert.equal(error.code, Code.DeadlineExceeded);
    assert.ok(Date.now() - started < 5000);
  } finally {
    stalled.close();
    silent.close();
  }
});
