/**
 * The cheapest possible registry, for `scripts/bench_floor.ts`: raw TCP in,
 * one `etcd3` put, one byte out. No libp2p, no parsing, no logging. A message
 * starting with "p" is answered at once (a ping, no etcd).
 *
 * Run: deno run -A scripts/_tcp_put_proxy.ts <etcd url> [<etcd data dir, for its TLS files>]
 * Prints its port, then serves until killed.
 *
 * @module
 */
import { createEtcdClient } from "../src/store/etcd_cluster.ts";
import { etcdTlsPaths } from "../src/store/tls.ts";

const [url, dataDir] = Deno.args;
const paths = url.startsWith("https:") ? etcdTlsPaths(dataDir) : undefined;
const etcd = createEtcdClient(
  url,
  paths && {
    ca: await Deno.readTextFile(paths.caFile),
    cert: await Deno.readTextFile(paths.certFile),
    key: await Deno.readTextFile(paths.keyFile),
  },
);
const value = JSON.stringify({ x: "y".repeat(300) });
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(listener.addr.port);
let n = 0;
for await (const conn of listener) {
  (async () => {
    const buf = new Uint8Array(64);
    for (let read = await conn.read(buf); read !== null; read = await conn.read(buf)) {
      if (buf[0] !== 0x3f) await etcd.put(`bench-floor/proxy-${n++ % 50}`).value(value).exec();
      await conn.write(buf.subarray(0, 1));
    }
  })().catch(() => conn.close());
}
