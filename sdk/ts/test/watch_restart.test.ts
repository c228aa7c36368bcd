// Watches that survive a restart of sandboxd: the stream breaks with UNAVAILABLE, the
// SDK reconnects with the last token, and since tokens are per process the new sandboxd
// answers RESET, the fresh initial state (showing the change made meanwhile) and
// INITIAL_STATE_COMPLETE; then the stream goes on live.

import assert from "node:assert/strict";
import { exec } from "node:child_process";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { SandboxPhase, WatchEventType, type WatchEvent } from "../src/index.js";
import { namespace, required, testClient, uniqueName, WAIT_MS } from "./env.js";

const client = testClient();
const ns = namespace();
const name = uniqueName("ts-watch");
const project = uniqueName("proj");

after(async () => {
  await client.delete(ns, name, { allowMissing: true });
  client.close();
});

// The next event of a watch, failing after WAIT_MS.
async function next(watch: AsyncGenerator<WatchEvent>, what: string): Promise<WatchEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no event (${what}) within ${WAIT_MS} ms`)), WAIT_MS);
  });
  try {
    const result = await Promise.race([watch.next(), timeout]);
    assert.equal(result.done, false, `the watch ended (${what})`);
    return result.value as WatchEvent;
  } finally {
    clearTimeout(timer);
  }
}

function typeName(event: WatchEvent): string {
  return WatchEventType[event.type] ?? String(event.type);
}

test("watch and watchAll resume across a sandboxd restart", async () => {
  await client.create({ name, project, env: { STEP: "before" } });
  await client.waitFor(ns, name, SandboxPhase.RUNNING, { timeoutMs: WAIT_MS });

  let reconnects = 0;
  const onReconnect = () => void reconnects++;
  const one = client.watch(ns, name, { onReconnect });
  const all = client.watchAll(ns, { project }, { onReconnect });

  for (const watch of [one, all]) {
    const added = await next(watch, "initial ADDED");
    assert.equal(typeName(added), "ADDED");
    assert.equal(added.sandbox?.spec?.name, name);
    assert.equal(added.sandbox?.spec?.env["STEP"], "before");
    assert.notEqual(added.resumeToken, "");
    assert.equal(typeName(await next(watch, "initial INITIAL_STATE_COMPLETE")), "INITIAL_STATE_COMPLETE");
  }

  // Restart while both streams are open (the caller is not reading), then change the
  // sandbox on the new process (the SDK retries its UNAVAILABLE until its cache syncs).
  await promisify(exec)(required("SANDBOXD_TEST_RESTART"));
  await client.updateEnv(ns, name, { STEP: "after" });
  // The fresh initial state comes from sandboxd's cache: let the cache see the change.
  while ((await client.get(ns, name)).spec?.env["STEP"] !== "after") {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  for (const watch of [one, all]) {
    const reset = await next(watch, "RESET");
    assert.equal(typeName(reset), "RESET");
    assert.equal(reset.sandbox, undefined);
    const added = await next(watch, "fresh ADDED");
    assert.equal(typeName(added), "ADDED");
    assert.equal(added.sandbox?.spec?.name, name);
    assert.equal(added.sandbox?.spec?.env["STEP"], "after", "the change made during the restart is visible");
    assert.equal(typeName(await next(watch, "INITIAL_STATE_COMPLETE")), "INITIAL_STATE_COMPLETE");
  }
  assert.ok(reconnects >= 2, `each watch reconnected (${reconnects} reconnects)`);

  // The resumed streams are live: the stop arrives as MODIFIED (after any MODIFIED of the
  // pod restart that the env change began).
  await client.stop(ns, name);
  for (const watch of [one, all]) {
    for (;;) {
      const modified = await next(watch, "MODIFIED after stop");
      assert.equal(typeName(modified), "MODIFIED");
      assert.equal(modified.sandbox?.spec?.env["STEP"], "after");
      if (modified.sandbox?.desiredReplicas === 0) break;
    }
  }

  await one.return();
  await all.return();
});
