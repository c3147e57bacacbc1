import assert from "node:assert/strict";
import { addService, connectRegistry, listServices, type Logger } from "../../mod.ts";
import { createEtcdClient } from "../../src/store/etcd_cluster.ts";
import { DEFAULT_KEY_PREFIX } from "../../src/store/registry_store.ts";
import { retry } from "../../src/_retry.ts";
import { sampleInfo, startService } from "../_registry.ts";
import { cli } from "../_cli_io.ts";

const PSK = "list-tolerance";

/** Entries an older or foreign instance could have written, put straight into etcd. */
const BAD_ENTRIES: Record<string, [string, RegExp]> = {
  "bad-types": ['{"ContentHash":1,"DockerHash":["x"],"CpuReq":"lots"}', /ContentHash/],
  "not-json": ["garbage{", /not valid JSON/],
};

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { debug() {}, info() {}, warn: (m) => warnings.push(m), error() {}, warnings };
}

Deno.test("entries that fail to parse never break list: skipped, named, marked", async (t) => {
  const service = await startService({ psk: PSK });
  const etcd = createEtcdClient(service.etcdUrl, service.etcdTls);
  try {
    const target = { bootstraps: [service.addr], psk: PSK };
    await addService("good", sampleInfo(1), target);
    for (const [name, [infoStr]] of Object.entries(BAD_ENTRIES)) {
      await etcd.put(`${DEFAULT_KEY_PREFIX}${name}`).value(infoStr);
    }
    await using conn = await connectRegistry(target);
    // The service's view follows etcd through a watch: wait until it lists them.
    const listing = await retry(async () => {
      const listing = await conn.client.listDetailed();
      assert.equal(Object.keys(listing.invalid).length, 2);
      return listing;
    }, { deadline: Date.now() + 10_000, initialDelayMs: 50, maxDelayMs: 500 });

    await t.step("listDetailed splits valid entries from invalid ones, with the reason", () => {
      assert.deepEqual(listing.services, { good: sampleInfo(1) });
      for (const [name, [, reason]] of Object.entries(BAD_ENTRIES)) {
        assert.match(listing.invalid[name], reason, name);
      }
    });

    await t.step(
      "list and listServices return the valid entries and warn naming the others",
      async () => {
        const logger = recordingLogger();
        assert.deepEqual(await listServices({ ...target, logger }), { good: sampleInfo(1) });
        assert.equal(logger.warnings.length, 2);
        for (const name of Object.keys(BAD_ENTRIES)) {
          assert.ok(
            logger.warnings.some((w) => w.includes(`"${name}"`)),
            `${name} in ${logger.warnings}`,
          );
        }
      },
    );

    await t.step(
      "the CLI's list prints the valid entries and warns on stderr naming the others",
      async () => {
        const keyDir = await Deno.makeTempDir();
        try {
          const flags = ["-bootstrap", service.addr, "-psk", PSK, "-keyfile", `${keyDir}/key`];
          const res = await cli([...flags, "list"]);
          assert.equal(res.code, 0, res.stderr);
          assert.equal(
            res.stdout,
            `Response:\nService Name: good, Info: ${JSON.stringify(sampleInfo(1))}\n`,
          );
          for (const [name, [, reason]] of Object.entries(BAD_ENTRIES)) {
            const warning = res.stderr.split("\n").find((l) => l.includes(`entry "${name}"`));
            assert.ok(warning, `no warning for ${name}: ${res.stderr}`);
            assert.match(warning, reason);
          }
          const json = await cli([...flags, "list", "-json"]);
          assert.equal(json.code, 0, json.stderr);
          const parsed = JSON.parse(json.stdout);
          assert.deepEqual(parsed.services, { good: sampleInfo(1) });
          assert.deepEqual(Object.keys(parsed.invalid).sort(), Object.keys(BAD_ENTRIES).sort());
        } finally {
          await Deno.remove(keyDir, { recursive: true });
        }
      },
    );

    await t.step('a service called "__proto__" is listed like any other', async () => {
      await conn.client.add("__proto__", sampleInfo(2));
      const { services } = await conn.client.listDetailed();
      assert.ok(Object.hasOwn(services, "__proto__"));
      assert.deepEqual(services["__proto__"], sampleInfo(2));
      assert.equal(Object.getPrototypeOf(services), Object.prototype);
    });
  } finally {
    etcd.close();
    await service.stop();
  }
});
