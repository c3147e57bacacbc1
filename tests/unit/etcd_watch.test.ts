/**
 * The store's etcd watch over our HTTP/2 connection, against a real etcd:
 * with mutual TLS as the service runs it, from a start revision, through a
 * compaction, past the flow-control windows, and across a member restart.
 */
import assert from "node:assert/strict";
import { createEtcdClient } from "../../src/store/etcd_cluster.ts";
import { createEtcdKv, type EtcdKv } from "../../src/store/etcd_kv.ts";
import {
  openWatch,
  type WatchBatch,
  WatchCompactedError,
  type WatchHandlers,
} from "../../src/store/etcd_watch.ts";
import { connectH2 } from "../../src/store/_h2.ts";
import { startEtcd } from "../../src/store/etcd_process.ts";
import { ensureEtcdTls } from "../../src/store/tls.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { startRestartableEtcd, startTestEtcd } from "../_etcd.ts";
import { freePort, tempDataDir } from "../_registry.ts";

const decoder = new TextDecoder();

/** A change as the tests compare them. */
interface Seen {
  type: "put" | "delete";
  key: string;
  value: string;
  revision: number;
}

/** Handlers that record what a watch delivers; `until(n)` waits for n changes. */
function recorder() {
  const seen: Seen[] = [];
  const retries: Error[] = [];
  const ended = Promise.withResolvers<Error>();
  let waiting: { count: number; resolve: () => void } | undefined;
  const handlers: WatchHandlers = {
    onBatch(batch: WatchBatch) {
      for (const e of batch.events) {
        seen.push({
          type: e.type,
          key: decoder.decode(e.key),
          value: decoder.decode(e.value),
          revision: e.modRevision,
        });
      }
      if (waiting && seen.length >= waiting.count) waiting.resolve();
    },
    onEnd: (err) => ended.resolve(err),
    onRetry: (err) => void retries.push(err),
  };
  const until = (count: number): Promise<void> => {
    if (seen.length >= count) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    waiting = { count, resolve };
    return promise;
  };
  return { seen, retries, ended: ended.promise, handlers, until };
}

const put = (key: string, value: string) => ({ type: "put" as const, key, value });

async function write(kv: EtcdKv, ...ops: Parameters<EtcdKv["txn"]>[0]["success"]) {
  return (await kv.txn({ compare: [], success: ops })).revision;
}

Deno.test("etcd watch: puts and deletes under the prefix only, in order, from the start revision (mutual TLS)", async () => {
  await using stack = new AsyncDisposableStack();
  const dataDir = await tempDataDir();
  const member = { ip: "127.0.0.1", clientPort: freePort(), peerPort: freePort() };
  const tls = await ensureEtcdTls("secret", { dataDir, name: "m", ip: member.ip });
  const etcd = await startEtcd({
    ...member,
    tls,
    dataDir,
    clusterState: "new",
    logger: silentLogger,
  });
  stack.defer(() => etcd.stop());
  const kv = createEtcdKv(etcd.clientUrl, tls);
  stack.defer(() => kv.close());

  const first = await write(kv, put("app/a", "1"));
  await write(kv, put("other/x", "no"), put("app/b", "ünï ✓"));
  await write(kv, { type: "delete", key: "app/a" });
  const later = await write(kv, put("app/c", "3"), put("apple", "no: another prefix"));

  const all = recorder();
  const watch = await kv.watch({ prefix: "app/", startRevision: first }, all.handlers);
  stack.defer(() => watch.cancel());
  const fromLater = recorder();
  const laterWatch = await kv.watch({ prefix: "app/", startRevision: later }, fromLater.handlers);
  stack.defer(() => laterWatch.cancel());
  // Live changes after the history.
  const last = await write(kv, put("app/b", "2"), { type: "delete", key: "app/c" });
  await all.until(6);
  await fromLater.until(3);
  assert.deepEqual(all.seen, [
    { type: "put", key: "app/a", value: "1", revision: first },
    { type: "put", key: "app/b", value: "ünï ✓", revision: first + 1 },
    { type: "delete", key: "app/a", value: "", revision: first + 2 },
    { type: "put", key: "app/c", value: "3", revision: later },
    { type: "put", key: "app/b", value: "2", revision: last },
    { type: "delete", key: "app/c", value: "", revision: last },
  ]);
  assert.deepEqual(fromLater.seen, all.seen.slice(3));
  assert.deepEqual(all.retries, []);
});

Deno.test("etcd watch: a start revision compacted away ends the watch as a compaction", async () => {
  await using stack = new AsyncDisposableStack();
  const etcd = await startTestEtcd(stack);
  const kv = createEtcdKv(etcd.clientUrl);
  stack.defer(() => kv.close());
  const first = await write(kv, put("k/1", "a"));
  await write(kv, put("k/2", "b"));
  const current = await write(kv, put("k/3", "c"));
  const admin = createEtcdClient(etcd.clientUrl);
  stack.defer(() => admin.close());
  await admin.kv.compact({ revision: String(current), physical: true });

  const r = recorder();
  const watch = await kv.watch({ prefix: "k/", startRevision: first }, r.handlers);
  stack.defer(() => watch.cancel());
  const err = await r.ended;
  assert.ok(err instanceof WatchCompactedError, String(err));
  assert.equal(err.compactRevision, current);
  assert.deepEqual(r.seen, []);
});

Deno.test("etcd watch: more than 1 MB through a 64 KiB window, from history and live", async () => {
  await using stack = new AsyncDisposableStack();
  const etcd = await startTestEtcd(stack);
  const kv = createEtcdKv(etcd.clientUrl);
  stack.defer(() => kv.close());
  const url = new URL(etcd.clientUrl);
  // The default window: etcd stops at 64 KiB unless our WINDOW_UPDATEs give it more.
  const conn = await connectH2({
    host: url.hostname,
    port: Number(url.port),
    receiveWindow: 65_535,
  });
  stack.defer(() => conn.close());
  const value = (i: number) => String(i % 10).repeat(40_000);
  const first = await write(kv, put("big/0", value(0)));
  for (let i = 1; i < 30; i++) await write(kv, put(`big/${i}`, value(i)));

  const r = recorder();
  const watch = await openWatch(
    () => Promise.resolve({ conn, url: url.href }),
    { prefix: "big/", startRevision: first },
    r.handlers,
  );
  stack.defer(() => watch.cancel());
  for (let i = 30; i < 60; i++) await write(kv, put(`big/${i}`, value(i)));
  await r.until(60);
  assert.deepEqual(r.seen.map((e) => e.key), Array.from({ length: 60 }, (_, i) => `big/${i}`));
  assert.ok(r.seen.every((e, i) => e.value === value(i)));
  assert.deepEqual(r.retries, []);
});

Deno.test("etcd watch: a member restart is reported, and the watch resumes after its last change", async () => {
  await using stack = new AsyncDisposableStack();
  const etcd = await startRestartableEtcd(stack);
  const kv = createEtcdKv(etcd.clientUrl);
  stack.defer(() => kv.close());
  const first = await write(kv, put("r/1", "a"));
  const r = recorder();
  const watch = await kv.watch({ prefix: "r/", startRevision: first }, r.handlers);
  stack.defer(() => watch.cancel());
  await r.until(1);

  await etcd.restart();
  const second = await write(kv, put("r/2", "b"));
  await r.until(2);
  assert.ok(r.retries.length >= 1, "the lost stream is reported");
  assert.deepEqual(r.seen.map((e) => [e.key, e.revision]), [["r/1", first], ["r/2", second]]);
});

Deno.test("etcd watch: a signal that aborts while the connection opens fails the watch, and leaves none running", async () => {
  await using stack = new AsyncDisposableStack();
  const etcd = await startTestEtcd(stack);
  const kv = createEtcdKv(etcd.clientUrl);
  stack.defer(() => kv.close());
  const url = new URL(etcd.clientUrl);
  const conn = await connectH2({ host: url.hostname, port: Number(url.port) });
  stack.defer(() => conn.close());
  const start = await write(kv, put("late/0", "0"));

  // The store's call timeout fires while the connection is still opening (a slow member).
  const controller = new AbortController();
  const connect = () => {
    controller.abort(new Error("no answer in time"));
    return Promise.resolve({ conn, url: url.href });
  };
  const given = recorder();
  await assert.rejects(
    openWatch(
      connect,
      { prefix: "late/", startRevision: start },
      given.handlers,
      controller.signal,
    ),
    /no answer in time/,
  );
  // A watch opened after it: once it has seen the next write, the first must have seen none.
  const after = recorder();
  const watch = await openWatch(
    () => Promise.resolve({ conn, url: url.href }),
    { prefix: "late/", startRevision: start + 1 },
    after.handlers,
  );
  stack.defer(() => watch.cancel());
  await write(kv, put("late/1", "1"));
  await after.until(1);
  assert.deepEqual(given.seen, []);
});
