/**
 * `deno task bench:list`: how `list` grows with the registry, at 1,000,
 * 10,000 and 100,000 entries, and where its time goes, in one run:
 *
 * - list p50: `RegistryClient.list()`, what a user waits for;
 * - transfer p50: the same answer read as bytes on a fresh stream (the
 *   service's part and the wire: yamux, noise, pnet), no parsing;
 * - parse: the client's decoding of those bytes (`ListAnswerDecoder` fed
 *   64 KiB pieces, each InfoStr parsed and checked), timed alone in this
 *   process: the CPU the client spends on it, overlapped with the transfer
 *   in `list()`;
 * - encode: `encodeListResponse` of as many entries, timed alone (the
 *   service encodes once per change of the registry, not per request);
 * - ciphers: pnet's XSalsa20 and noise's ChaCha20-Poly1305 (in 64 KiB
 *   frames, as noise sends them) over the answer's bytes, timed alone: what
 *   each side spends on encryption of one answer;
 * - bytes of the answer, and the service's RSS growth per entry since start.
 *
 * Run: deno run -A scripts/bench_list.ts [sizes=1000,10000,100000]
 *
 * @module
 */
import { createCipheriv } from "node:crypto";
import { createEtcdClient } from "../src/store/etcd_cluster.ts";
import xsalsa20 from "xsalsa20";
import { multiaddr } from "@multiformats/multiaddr";
import { connectRegistry } from "../mod.ts";
import { LIST_PROTOCOL } from "../src/protocol/ids.ts";
import { decodeListResponse, encodeListResponse } from "../src/protocol/messages.ts";
import { ListAnswerDecoder } from "../src/protocol/list_decoder.ts";
import { parseServiceInfo } from "../src/protocol/service_info.ts";
import { readToEnd } from "../src/protocol/stream_io.ts";
import { DEFAULT_KEY_PREFIX } from "../src/store/registry_store.ts";
import { sampleInfo, startService } from "./_registry.ts";
import { rssMiB } from "./_proc.ts";
import { percentile } from "./_stats.ts";

const SIZES = (Deno.args[0] ?? "1000,10000,100000").split(",").map(Number);
const PSK = "bench-list";

async function timeEach(n: number, fn: () => Promise<unknown> | unknown): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await fn();
    samples.push(performance.now() - started);
  }
  return samples;
}

const service = await startService({ psk: PSK, logLimit: 64 * 1024 });
const etcd = createEtcdClient(service.etcdUrl, service.etcdTls);
const rows: string[] = [];
try {
  await using conn = await connectRegistry({ bootstraps: [service.addr], psk: PSK });
  const addr = multiaddr(service.addr);
  const listBytes = async () => {
    const stream = await conn.node.dialProtocol(addr, LIST_PROTOCOL);
    const [answer] = await Promise.all([readToEnd(stream, { maxBytes: 1 << 30 }), stream.close()]);
    return answer;
  };
  await conn.client.list();
  const rssStart = rssMiB(service.child.pid);
  const infoStr = JSON.stringify(sampleInfo(1));
  let filled = 0;
  for (const size of SIZES) {
    // Filled straight into etcd, 100 puts per transaction; the service's watch brings them in.
    for (; filled < size; filled += 100) {
      await etcd.if(`${DEFAULT_KEY_PREFIX}list-0`, "Version", ">", -1).then(
        ...Array.from(
          { length: Math.min(100, size - filled) },
          (_, j) => etcd.put(`${DEFAULT_KEY_PREFIX}list-${filled + j}`).value(infoStr),
        ),
      ).commit();
    }
    filled = size;
    const count = async () =>
      Object.keys(decodeListResponse(new TextDecoder().decode(await listBytes())).NameToInfoStr)
        .length;
    while (await count() < size) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const samples = size >= 100_000 ? 3 : 10;
    const bytes = await listBytes();
    const list = percentile(await timeEach(samples, () => conn.client.list()), 0.5);
    const transfer = percentile(await timeEach(samples, listBytes), 0.5);
    const parse = percentile(
      await timeEach(samples, () => {
        const decoder = new ListAnswerDecoder((_, infoStr) => parseServiceInfo(infoStr));
        for (let at = 0; at < bytes.byteLength; at += 65_536) {
          decoder.push(bytes.subarray(at, at + 65_536));
        }
        decoder.end();
      }),
      0.5,
    );
    const entries = new Map(
      Array.from({ length: size }, (_, i) => [`list-${i}`, infoStr] as [string, string]),
    );
    const encode = percentile(
      await timeEach(samples, () => new TextEncoder().encode(encodeListResponse(entries))),
      0.5,
    );
    const ciphers = percentile(
      await timeEach(samples, () => {
        const out = new Uint8Array(bytes.byteLength);
        xsalsa20(new Uint8Array(24), new Uint8Array(32)).update(bytes, out);
        for (let at = 0, n = 0; at < bytes.byteLength; at += 65_519, n++) {
          const nonce = new Uint8Array(12);
          new DataView(nonce.buffer).setUint32(4, n, true);
          const cipher = createCipheriv("chacha20-poly1305", new Uint8Array(32), nonce, {
            authTagLength: 16,
          });
          cipher.update(bytes.subarray(at, at + 65_519));
          cipher.final();
          cipher.getAuthTag();
        }
      }),
      0.5,
    );
    const growth = rssMiB(service.child.pid) - rssStart;
    rows.push(
      `| ${size} | ${list.toFixed(1)} ms | ${transfer.toFixed(1)} ms | ${parse.toFixed(1)} ms | ` +
        `${encode.toFixed(1)} ms | ${ciphers.toFixed(1)} ms | ${
          (bytes.byteLength / 1024 / 1024).toFixed(2)
        } MB | ` +
        `${(growth * 1024 * 1024 / size).toFixed(0)} B (${growth.toFixed(1)} MiB) |`,
    );
  }
} finally {
  await etcd.delete().prefix(`${DEFAULT_KEY_PREFIX}list-`).exec().catch(() => {});
  etcd.close();
  await service.stop();
}
console.log(
  "| entries | list p50 | transfer p50 (bytes only) | client parse | encode | ciphers, one side | answer | service RSS growth per entry |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
for (const row of rows) console.log(row);
Deno.exit(0);
