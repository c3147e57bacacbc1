/**
 * The CLI's text output of `list` and `watch` cannot be spoofed by a name:
 * spaces, braces, line breaks, bidi controls and look-alike letters are
 * quoted, so that each entry is one line that reads back as its own name.
 */
import assert from "node:assert/strict";
import { connectRegistry } from "../../mod.ts";
import { cliMain } from "../../src/cli/main.ts";
import { createEtcdClient } from "../../src/store/etcd_cluster.ts";
import { DEFAULT_KEY_PREFIX } from "../../src/store/registry_store.ts";
import { retry } from "../../src/_retry.ts";
import { sampleInfo, startService } from "../_registry.ts";
import { cli } from "../_cli_io.ts";
import { addPayload, wirePeer } from "./_wire.ts";

const PSK = "cli-quoting";

/** Names the service takes (spaces and braces are allowed in names). */
const ADDED = [
  "good",
  'svc, Info: {"CpuReq":1}',
  'good 3 {"forged":1}',
  "\u0440aypal",
];
/** Names an older or foreign writer could have put straight into etcd. */
const FOREIGN = [
  'x\nService Name: good, Info: {"DockerHash":"evil"}',
  "\u202Edoog",
  "put good 1 {}\u2028put",
];
const NAMES = [...ADDED, ...FOREIGN];

/** Reads a name back from its text form: plain, or quoted (JSON string escapes). */
function unquote(text: string): string {
  return text.startsWith('"') ? JSON.parse(text) : text;
}

/** A name as printed: plain (visible, no space, `"`, `\` or `,`) or quoted. */
const NAME = String.raw`([^\s"\\,]+|"(?:[^"\\]|\\.)*")`;
/** No character that is invisible or breaks or reorders a line. */
const VISIBLE_LINE = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]*$/u;

Deno.test("list and watch print each name as one unambiguous, reversible token", async (t) => {
  const service = await startService({ psk: PSK });
  const etcd = createEtcdClient(service.etcdUrl, service.etcdTls);
  const keyDir = await Deno.makeTempDir();
  try {
    const target = { bootstraps: [service.addr], psk: PSK };
    await using conn = await connectRegistry(target);
    for (const [i, name] of ADDED.entries()) await conn.client.add(name, sampleInfo(i));
    for (const [i, name] of FOREIGN.entries()) {
      await etcd.put(`${DEFAULT_KEY_PREFIX}${name}`).value(JSON.stringify(sampleInfo(10 + i)));
    }
    await retry(async () => {
      assert.equal(Object.keys(await conn.client.list()).length, NAMES.length);
    }, { deadline: Date.now() + 10_000, initialDelayMs: 50, maxDelayMs: 500 });
    const flags = ["-bootstrap", service.addr, "-psk", PSK, "-keyfile", `${keyDir}/key`];

    await t.step("list: one line per entry, each naming its own entry", async () => {
      const res = await cli([...flags, "list"]);
      assert.equal(res.code, 0, res.stderr);
      const [head, ...lines] = res.stdout.trimEnd().split("\n");
      assert.equal(head, "Response:");
      assert.equal(lines.length, NAMES.length, res.stdout);
      const pattern = new RegExp(`^Service Name: ${NAME}, Info: (\\{.*\\})$`, "u");
      const listed = lines.map((line) => {
        const match = line.match(pattern);
        assert.ok(match, `not one entry: ${JSON.stringify(line)}`);
        assert.match(line, VISIBLE_LINE, "a line of visible characters only");
        JSON.parse(match[2]);
        return unquote(match[1]);
      });
      assert.deepEqual(listed.sort(), [...NAMES].sort());
      assert.equal(lines.filter((l) => l.startsWith("Service Name: good,")).length, 1);
      assert.ok(
        // Another script's letters print as they are, as SPEC's format has them.
        lines.includes(`Service Name: \u0440aypal, Info: ${JSON.stringify(sampleInfo(3))}`),
      );
    });

    await t.step("list -json keeps the names exact", async () => {
      const res = await cli([...flags, "list", "-json"]);
      assert.equal(res.code, 0, res.stderr);
      assert.deepEqual(Object.keys(JSON.parse(res.stdout).services).sort(), [...NAMES].sort());
    });

    await t.step("watch: one put line per entry, each naming its own entry", async () => {
      const lines: string[] = [];
      const stopped = Promise.withResolvers<void>();
      let interrupt = () => {};
      const code = await cliMain([...flags, "watch"], {
        env: {},
        stdout: (text) => {
          lines.push(...text.split("\n"));
          if (text.startsWith("synced ")) interrupt();
        },
        stderr: () => {},
        onInterrupt: (listener) => {
          interrupt = () => {
            listener();
            stopped.resolve();
          };
          return () => {};
        },
      });
      await stopped.promise;
      assert.equal(code, 0);
      assert.match(lines.at(-1)!, /^synced \d+$/);
      const pattern = new RegExp(`^put ${NAME} (\\d+) (\\{.*\\})$`, "u");
      const watched = lines.slice(0, -1).map((line) => {
        const match = line.match(pattern);
        assert.ok(match, `not one change: ${JSON.stringify(line)}`);
        assert.match(line, VISIBLE_LINE, "a line of visible characters only");
        return unquote(match[1]);
      });
      assert.deepEqual(watched.sort(), [...NAMES].sort());
    });
  } finally {
    etcd.close();
    await Deno.remove(keyDir, { recursive: true });
    await service.stop();
  }
});

Deno.test("get, list and history print no raw control or format character of an entry's extra keys", async () => {
  const service = await startService({ psk: PSK });
  const peer = await wirePeer(PSK, service.addr);
  const keyDir = await Deno.makeTempDir();
  try {
    // An extra key first (key order is kept) with a raw RLO, and a raw CR LF between tokens:
    // printed raw, the RLO reverses the rest of the line (the DockerHash after it).
    const infoStr = `{"note":"\u202e\u2066",\r\n${JSON.stringify(sampleInfo(1)).slice(1)}`;
    assert.match(await peer.ask("/add/0.1", addPayload("mine", infoStr)), /^Added/);
    const flags = ["-bootstrap", service.addr, "-psk", PSK, "-keyfile", `${keyDir}/key`];
    for (const args of [["get", "mine"], ["list"], ["history", "mine"]]) {
      const res = await cli([...flags, ...args]);
      assert.equal(res.code, 0, res.stderr);
      const lines = res.stdout.trimEnd().split("\n");
      assert.equal(lines.length, 2, res.stdout);
      const raw = lines.join("").match(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u)?.[0];
      assert.equal(
        raw,
        undefined,
        `${args[0]} printed U+${raw?.codePointAt(0)?.toString(16)} raw: ${JSON.stringify(lines)}`,
      );
    }
    // Escaped, the entry still reads back as the same JSON.
    const got = (await cli([...flags, "get", "mine"])).stdout.trimEnd().split("\n")[1];
    assert.deepEqual(JSON.parse(got), JSON.parse(infoStr));
  } finally {
    await peer.node.stop();
    await service.stop();
    await Deno.remove(keyDir, { recursive: true });
  }
});
