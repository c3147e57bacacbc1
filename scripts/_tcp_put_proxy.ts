/**
 * The cheapest possible registry, for `scripts/bench_floor.ts`: raw TCP in,
 * one `etcd3` put, one byte out. No libp2p, no parsing, no logging. A message
 * starting with "p" is answered at once (a ping, no etcd).
 *
 * Run: deno run -A scripts/_tcp_put_proxy.ts <etcd url>
 * Prints its port, then serves until killed.
 *
 * @module
 */
import { Etcd3 } from "etcd3";

const etcd = new Etcd3({ hosts: Deno.args[0] });
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
