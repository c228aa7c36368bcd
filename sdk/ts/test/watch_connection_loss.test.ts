// A watch whose connection breaks while sandboxd lives on: the SDK reconnects with the
// last token, and sandboxd replays the change made meanwhile (no RESET, nothing skipped).

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { SandboxPhase, WatchEventType, type WatchEvent } from "../src/index.js";
import { CuttingProxy } from "./cutting_proxy.js";
import { namespace, required, testClient, uniqueName, WAIT_MS } from "./env.js";

const direct = testClient();
const ns = namespace();
const name = uniqueName("ts-cut");

after(async () => {
  await direct.delete(ns, name, { allowMissing: true });
  direct.close();
});

async function next(watch: AsyncGenerator<WatchEvent>): Promise<WatchEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no event within ${WAIT_MS} ms`)), WAIT_MS);
  });
  try {
    const result = await Promise.race([watch.next(), timeout]);
    assert.equal(result.done, false, "the watch ended");
    return result.value as WatchEvent;
  } finally {
    clearTimeout(timer);
  }
}

test("a watch resumes without a gap after its connection breaks", async () => {
  await direct.create({ name, env: { STEP: "before" } });
  await direct.waitFor(ns, name, SandboxPhase.RUNNING, { timeoutMs: WAIT_MS });

  const proxy = await CuttingProxy.start(required("SANDBOXD_ADDR"));
  const viaProxy = testClient({ address: proxy.url, retry: { initialBackoffMs: 50, maxBackoffMs: 200 } });
  const reconnectErrors: string[] = [];
  const watch = viaProxy.watch(ns, name, { onReconnect: (e) => void reconnectErrors.push(e.message) });
  try {
    assert.equal((await next(watch)).type, WatchEventType.ADDED);
    assert.equal((await next(watch)).type, WatchEventType.INITIAL_STATE_COMPLETE);

    // A pending read while the connection breaks and the sandbox changes.
    const pending = next(watch);
    proxy.cut();
    await direct.updateEnv(ns, name, { STEP: "during" });
    while ((await direct.get(ns, name)).spec?.env["STEP"] !== "during") {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    proxy.restore();

    const modified = await pending;
    assert.equal(WatchEventType[modified.type], "MODIFIED", "resumed with the missed change, no RESET");
    assert.equal(modified.sandbox?.spec?.env["STEP"], "during");
    assert.ok(reconnectErrors.length >= 1, "the watch reconnected");
  } finally {
    await watch.return();
    viaProxy.close();
    await proxy.close();
  }
});
