// waitFor fails fast, with the reason, when the sandbox fails, is deleted or does not
// exist; and gives up with DeadlineExceededError after its time limit.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, test } from "node:test";
import { promisify } from "node:util";
import {
  Code,
  DeadlineExceededError,
  SandboxDeletedError,
  SandboxErrorReason,
  SandboxNotFoundError,
  SandboxPhase,
  SandboxPhaseError,
} from "../src/index.js";
import { namespace, required, testClient, uniqueName, WAIT_MS } from "./env.js";

const client = testClient();
const ns = namespace();
const failing = uniqueName("ts-fail");
const deleted = uniqueName("ts-del");
const stuck = uniqueName("ts-stuck");

after(async () => {
  await client.delete(ns, failing, { allowMissing: true });
  await client.delete(ns, deleted, { allowMissing: true });
  await client.delete(ns, stuck, { allowMissing: true });
  client.close();
});

test("waitFor fails fast with SandboxPhaseError when the image cannot be pulled", async () => {
  await client.create({ name: failing });
  await client.waitFor(ns, failing, SandboxPhase.RUNNING, { timeoutMs: WAIT_MS });
  // The fake nodes run no containers: report the pull failure on the pod as a kubelet would.
  const status = {
    status: {
      conditions: [{ type: "Ready", status: "False" }, { type: "ContainersReady", status: "False" }],
      containerStatuses: [{
        name: failing, image: "registry.local/agent:1", imageID: "", ready: false, restartCount: 0,
        started: false, state: { waiting: { reason: "ErrImagePull", message: "pull access denied" } },
      }],
    },
  };
  await promisify(execFile)(required("SANDBOXD_TEST_KUBECTL"), [
    "-n", ns, "patch", "pod", `${failing}-0`, "--subresource=status", "--type=strategic", "-p", JSON.stringify(status),
  ]);

  const error = await client.waitFor(ns, failing, SandboxPhase.STOPPED, { timeoutMs: WAIT_MS }).then(
    () => assert.fail("waitFor succeeded"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof SandboxPhaseError, `got ${String(error)}`);
  assert.equal(error.code, Code.FailedPrecondition);
  assert.equal(error.reason, "SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE");
  assert.equal(error.sandbox.phase, SandboxPhase.ERROR);
  assert.equal(error.sandbox.errorReason, SandboxErrorReason.IMAGE_PULL_FAILURE);
  assert.match(error.message, /SANDBOX_PHASE_ERROR \(SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE\): .*ErrImagePull/);
});

test("waitFor fails fast with SandboxDeletedError when the sandbox is deleted", async () => {
  await client.create({ name: deleted });
  await client.waitFor(ns, deleted, SandboxPhase.RUNNING, { timeoutMs: WAIT_MS });
  const waiting = client.waitFor(ns, deleted, SandboxPhase.STOPPED, { timeoutMs: WAIT_MS }).then(
    () => assert.fail("waitFor succeeded"),
    (e: unknown) => e,
  );
  await client.delete(ns, deleted);
  const error = await waiting;
  assert.ok(error instanceof SandboxDeletedError, `got ${String(error)}`);
  assert.equal(error.code, Code.NotFound);
  assert.equal(error.reason, "SANDBOX_NOT_FOUND");
  await client.waitForDeleted(ns, deleted, { timeoutMs: WAIT_MS });
});

test("waitFor fails fast with SandboxNotFoundError for a sandbox that does not exist", async () => {
  const absent = uniqueName("ts-absent");
  const error = await client.waitFor(ns, absent, SandboxPhase.RUNNING, { timeoutMs: WAIT_MS }).then(
    () => assert.fail("waitFor succeeded"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof SandboxNotFoundError, `got ${String(error)}`);
  assert.ok(!(error instanceof SandboxDeletedError), "not a deletion");
  assert.equal(error.code, Code.NotFound);
  assert.equal(error.reason, "SANDBOX_NOT_FOUND");
  assert.equal(error.message, `sandbox ${ns}/${absent} does not exist`);
});

test("waitFor gives up with DeadlineExceededError", async () => {
  // A running sandbox that is never stopped.
  await client.create({ name: stuck });
  await client.waitFor(ns, stuck, SandboxPhase.RUNNING, { timeoutMs: WAIT_MS });
  const started = Date.now();
  const error = await client.waitFor(ns, stuck, SandboxPhase.STOPPED, { timeoutMs: 500 }).then(
    () => assert.fail("waitFor succeeded"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof DeadlineExceededError, `got ${String(error)}`);
  assert.equal(error.code, Code.DeadlineExceeded);
  assert.ok(Date.now() - started < 5000);
  await client.delete(ns, stuck);
  await client.waitForDeleted(ns, stuck, { timeoutMs: WAIT_MS });
});
