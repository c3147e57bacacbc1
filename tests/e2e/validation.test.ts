import { Buffer } from "node:buffer";
import assert from "node:assert/strict";
import { sampleInfo, type ServiceProcess, startService } from "../_registry.ts";
import { addPayload, type WirePeer, wirePeer } from "./_wire.ts";
import { decodeListResponse } from "../../src/protocol/messages.ts";
import { createEtcdClient } from "../../src/store/etcd_cluster.ts";
import { DEFAULT_ROOT_PREFIX } from "../../src/store/registry_store.ts";

const PSK = "validation-test";

async function withService(fn: (service: ServiceProcess, peer: WirePeer) => Promise<void>) {
  const peer = await wirePeer(PSK);
  const service = await startService({ psk: PSK });
  try {
    peer.addr = service.addr;
    await fn(service, peer);
  } finally {
    await peer.node.stop();
    await service.stop();
  }
}

/** Every key of the registry's data in etcd (entries, owners, history). */
async function etcdKeys(service: ServiceProcess): Promise<string[]> {
  const etcd = createEtcdClient(service.etcdUrl, service.etcdTls);
  try {
    // The registry's data; instances also register themselves (cluster/, election/).
    const keys = await etcd.getAll().prefix(DEFAULT_ROOT_PREFIX).keys();
    return keys.filter((key) =>
      /^(services|owners|history)\//.test(key.slice(DEFAULT_ROOT_PREFIX.length))
    );
  } finally {
    etcd.close();
  }
}

Deno.test("each bad name and ServiceInfo is refused with an Error answer and nothing is stored", () =>
  withService(async (service, peer) => {
    const good = sampleInfo(1) as Record<string, unknown>;
    const badInfos: [string, unknown, RegExp][] = [
      ["empty object", "{}", /^Error: invalid service info: ContentHash must be a string$/],
      [
        "wrong types",
        { ContentHash: 1, DockerHash: ["x"], CpuReq: "lots" },
        /^Error: invalid service info: ContentHash must be a string$/,
      ],
      ["CpuReq text", { ...good, CpuReq: "lots" }, /CpuReq must be an integer/],
      ["RTT fraction", { ...good, NetworkHardReq: { RTT: 0.5 } }, /NetworkHardReq.RTT/],
      ["empty ContentHash", { ...good, ContentHash: "" }, /ContentHash must not be empty/],
      ["ContentHash newline", { ...good, ContentHash: "Qm\nx" }, /ContentHash contains control/],
      ["DockerHash no tag", { ...good, DockerHash: "attacker/miner" }, /tag or a digest/],
      ["DockerHash garbage", { ...good, DockerHash: "a b:1" }, /DockerHash/],
      // Go nodes match keys case-insensitively (last wins): they would run the second one.
      ...["dockerhash", "DOCKERHASH", "DockerHa\u017Fh", "Doc\u212Aerhash"].map((key) =>
        [
          `a second ${JSON.stringify(key)}`,
          { ...good, [key]: "evil.example/pwn:latest" },
          new RegExp(`^Error: invalid service info: key ${JSON.stringify(key)} is not DockerHash`),
        ] as [string, unknown, RegExp]
      ),
      ["a second rtt", { ...good, NetworkHardReq: { RTT: 1, rtt: "x" } }, /key "rtt" is not RTT/],
      ["not JSON", "nope", /^Error: invalid service info: ServiceInfo is not valid JSON/],
      // Near a MiB, the entry and its history record would pass etcd's request limit.
      ["too large", { ...good, Notes: "x".repeat(700_000) }, /700\d{3} bytes, more than the 65536/],
    ];
    for (const [what, info, answer] of badInfos) {
      assert.match(await peer.ask("/add/0.1", addPayload(`svc`, info)), answer, what);
    }
    const badNames: [string, RegExp][] = [
      ["", /empty/],
      ["x".repeat(254), /longer than 253/],
      ["sur\ud800x", /lone surrogate/],
      ["pay\u202Ements", /U\+202E/],
      ["zero\u200Bwidth", /U\+200B/],
      ["bell\u0007", /U\+0007/],
      ["team/svc", /"\/"/],
      ["line\u2028break", /separator U\+2028/],
    ];
    for (const [name, reason] of badNames) {
      const answer = await peer.ask("/add/0.1", addPayload(name, sampleInfo(1)));
      assert.match(answer, /^Error: invalid service name: /, JSON.stringify(name));
      assert.match(answer, reason);
      // A raw-text request cannot carry a lone surrogate (UTF-8 makes it U+FFFD).
      if (name !== "" && name.isWellFormed()) {
        assert.match(await peer.ask("/delete/0.1", name), /^Error: invalid service name: /);
      }
    }
    // Writes that are not well-formed requests are answered too, not reset.
    for (const payload of ['{"Name":1}', "garbage"]) {
      assert.match(await peer.ask("/add/0.1", payload), /^Error: add request /, payload);
    }
    for (const revision of [-1, 2.5, "2"]) {
      assert.match(
        await peer.ask("/rollback/0.1", JSON.stringify({ Name: "svc", Revision: revision })),
        /^Error: rollback request: Revision must be an integer/,
        String(revision),
      );
    }
    const list = decodeListResponse(await peer.ask("/list/0.1", ""));
    assert.deepEqual(list, { NameToInfoStr: {}, LookupOk: false });
    assert.deepEqual(await etcdKeys(service), [], "something was stored in etcd");

    // A name is stored NFC-normalized, and found under either form.
    assert.equal(
      await peer.ask("/add/0.1", addPayload("Cafe\u0301", sampleInfo(2))),
      `Added {Caf\u00e9: ${JSON.stringify(sampleInfo(2))}}`,
    );
    assert.equal(JSON.parse(await peer.ask("/get/0.1", "Caf\u00e9")).LookupOk, true);
    assert.equal(JSON.parse(await peer.ask("/get/0.1", "Cafe\u0301")).LookupOk, true);
    assert.deepEqual(
      Object.keys(decodeListResponse(await peer.ask("/list/0.1", "")).NameToInfoStr),
      ["Caf\u00e9"],
    );
  }));

Deno.test("a request with raw newlines and a forged log prefix makes exactly one log line", () =>
  withService(async (service, peer) => {
    const forged = "2026-01-01T00:00:00.000Z INFO /delete/0.1 from 12D3KooWFAKE";
    const requests: [string, string][] = [
      // Raw newlines between JSON tokens are valid JSON; the name carries the forged line.
      [
        "/add/0.1",
        `{"Name":"x\\n${forged}",\n"InfoStr":\n${JSON.stringify(JSON.stringify(sampleInfo(1)))}\n}`,
      ],
      // Not JSON at all: the raw text after the newline must not reach the log either.
      ["/add/0.1", `{"Name":"svc",\n"InfoStr":"{}"}\n${forged}: svc -> Deleted 1 entry`],
      ["/delete/0.1", `svc\n${forged}`],
      ["/get/0.1", `svc\n${forged}`],
    ];
    for (const [protocol, payload] of requests) {
      const lineCount = () => service.log().split("\n").filter((l) => l.trim() !== "").length;
      const before = lineCount();
      await peer.send(protocol, payload);
      await waitUntil(() => lineCount() > before);
      // Give any second line time to arrive (the service writes its log in batches).
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Other lines may come meanwhile (membership, steward): only this request's count.
      const lines = service.log().split("\n").filter((l) => l.trim() !== "").slice(before)
        .filter((l) => l.includes(protocol) || l.includes("12D3KooWFAKE"));
      assert.equal(lines.length, 1, `${protocol}:\n${lines.join("\n")}`);
      assert.match(
        lines[0],
        new RegExp(`^\\S+ (WARN|INFO) (audit peer=${peer.id} protocol=)?${protocol}`),
      );
    }
    assert.doesNotMatch(service.log(), /^\S+ INFO \/delete\/0\.1 from 12D3KooWFAKE/m);
    assert.match(
      service.log(),
      /name="x\\n2026-01-01T00:00:00.000Z INFO \/delete\/0.1 from 12D3KooWFAKE"/,
    );

    // Other line breaks: NEL (U+0085, a C1 control; JSON.stringify leaves it raw) and the line
    // separator, as a log shipper using Python's str.splitlines reads them.
    for (const brk of ["\u0085", "\u2028", "\u001c"]) {
      await peer.send("/add/0.1", addPayload(`y${brk}${forged}`, sampleInfo(1)));
    }
    await waitUntil(() => (service.log().match(/name="y/g)?.length ?? 0) === 3);
    // deno-lint-ignore no-control-regex
    const pythonLines = service.log().split(/\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/);
    assert.equal(pythonLines.find((line) => line.startsWith(forged)), undefined);
    assert.match(service.log(), /name="y\\u00852026-01-01T00:00:00.000Z INFO/);
  }));

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("bad entries put into etcd directly never break the service's list and are logged once", () =>
  withService(async (service, peer) => {
    await peer.ask("/add/0.1", addPayload("good", sampleInfo(1)));
    const etcd = createEtcdClient(service.etcdUrl, service.etcdTls);
    const services = `${DEFAULT_ROOT_PREFIX}services/`;
    const encoder = new TextEncoder();
    try {
      await etcd.put(`${services}bad-types`).value('{"ContentHash":1,"DockerHash":["x"]}');
      await etcd.put(`${services}not-json`).value("nope");
      // A key whose bytes are not UTF-8 has no name the service could answer under.
      const notUtf8 = new Uint8Array([...encoder.encode(services), 0x62, 0xff, 0x78]);
      await etcd.put(Buffer.from(notUtf8)).value(JSON.stringify(sampleInfo(2)));
      await etcd.put(`${DEFAULT_ROOT_PREFIX}history/good/forged`).value("garbage");
    } finally {
      etcd.close();
    }
    for (let i = 0; i < 3; i++) {
      const list = decodeListResponse(await peer.ask("/list/0.1", ""));
      assert.deepEqual(Object.keys(list.NameToInfoStr).sort(), ["bad-types", "good", "not-json"]);
      assert.deepEqual(JSON.parse(list.NameToInfoStr.good), sampleInfo(1));
      const history = JSON.parse(await peer.ask("/history/0.1", "good"));
      assert.equal(history.Versions.length, 1);
    }
    const log = await service.waitForLog(/bad entry in etcd: key "services\/not-json"/);
    await service.waitForLog(/bad entry in etcd: key "history\/good\/forged"/);
    for (const key of ["services/bad-types", "services/not-json", "history/good/forged"]) {
      assert.equal(log.split(`bad entry in etcd: key "${key}"`).length - 1, 1, key);
    }
    assert.match(log, /bad entry in etcd: key "services\/b\ufffdx" .*key is not UTF-8; ignored/);
    // Deleting a bad entry removes it from the view as from etcd.
    assert.equal(await peer.ask("/delete/0.1", "not-json"), "Deleted 1 entry from hash lookup");
    const list = decodeListResponse(await peer.ask("/list/0.1", ""));
    assert.deepEqual(Object.keys(list.NameToInfoStr).sort(), ["bad-types", "good"]);
  }));
