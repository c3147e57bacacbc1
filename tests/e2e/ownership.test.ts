import assert from "node:assert/strict";
import {
  addService,
  chownService,
  getService,
  rollbackService,
  serviceHistory,
  WriteRefusedError,
} from "../../mod.ts";
import { cli } from "../_cli_io.ts";
import { sampleInfo, startService } from "../_registry.ts";

const PSK = "ownership-cli";

Deno.test("write policy owner through the CLI and the library: owner, admin, chown, history, rollback", async (t) => {
  const dir = await Deno.makeTempDir();
  const keys = { a: `${dir}/a.key`, b: `${dir}/b.key`, admin: `${dir}/admin.key` };
  const ids: Record<keyof typeof keys, string> = { a: "", b: "", admin: "" };
  for (const who of Object.keys(keys) as (keyof typeof keys)[]) {
    const res = await cli(["-keyfile", keys[who], "whoami"]);
    assert.equal(res.code, 0, res.stderr);
    ids[who] = res.stdout.trim();
  }
  const service = await startService({
    psk: PSK,
    args: ["-write-policy", "owner", "-admin", ids.admin],
  });
  try {
    const as = (who: keyof typeof keys) => ({
      bootstraps: [service.addr],
      psk: PSK,
      keyFile: keys[who],
    });
    const cliAs = (who: keyof typeof keys, ...args: string[]) =>
      cli(["-bootstrap", service.addr, "-psk", PSK, "-keyfile", keys[who], ...args]);
    const notAuthorized = new RegExp(
      `^registry-cli: Error: not authorized: "svc" is owned by ${ids.a}; only its owner or an admin`,
    );

    await t.step("A adds; B's add through the library is a WriteRefusedError", async () => {
      await addService("svc", sampleInfo(1), as("a"));
      await assert.rejects(
        () => addService("svc", sampleInfo(9), as("b")),
        (err: unknown) =>
          err instanceof WriteRefusedError && err.protocol === "/add/0.1" &&
          err.answer.startsWith(`Error: not authorized: "svc" is owned by ${ids.a}`),
      );
      await addService("svc", sampleInfo(2), as("a"));
      assert.deepEqual(await getService("svc", as("b")), sampleInfo(2));
    });

    await t.step(
      "B's CLI delete, rollback and chown exit 1 with the message and change nothing",
      async () => {
        for (const args of [["delete", "svc"], ["rollback", "svc"], ["chown", "svc", ids.b]]) {
          const res = await cliAs("b", ...args);
          assert.equal(res.code, 1, `${args}: ${res.stdout}`);
          assert.match(res.stderr, notAuthorized, args.join(" "));
          assert.equal(res.stdout, "");
        }
        assert.deepEqual(await getService("svc", as("a")), sampleInfo(2));
      },
    );

    let revisions: number[] = [];
    await t.step("history: a table and -json, newest first, with the writer", async () => {
      const json = await cliAs("b", "history", "svc", "-json");
      assert.equal(json.code, 0, json.stderr);
      const versions = JSON.parse(json.stdout).Versions;
      assert.deepEqual(
        versions.map((
          v: { Op: string; Peer: string; InfoStr: string },
        ) => [v.Op, v.Peer, JSON.parse(v.InfoStr)]),
        [["put", ids.a, sampleInfo(2)], ["put", ids.a, sampleInfo(1)]],
      );
      revisions = versions.map((v: { Revision: number }) => v.Revision);
      assert.ok(revisions[0] > revisions[1]);
      const table = await cliAs("b", "history", "svc");
      assert.equal(table.code, 0, table.stderr);
      const lines = table.stdout.trimEnd().split("\n");
      assert.match(lines[0], /^REVISION\s+OP\s+TIME\s+PEER\s+IMAGE\s+CONTENT$/);
      assert.equal(lines.length, 3);
      for (const [i, n] of [[1, 2], [2, 1]]) {
        assert.match(
          lines[i],
          new RegExp(
            `^${revisions[i - 1]}\\s+put\\s+\\d{4}-\\d\\d-\\d\\dT\\S+\\s+${ids.a}\\s+` +
              `localhost:5000/team/svc${n}@sha256:abababababab…  QmbFMke1KXqnYyBB…$`,
          ),
        );
      }
      const none = await cliAs("b", "history", "never-written");
      assert.equal(none.stdout, "No recorded versions of never-written\n");
    });

    await t.step(
      "A's CLI rollback restores the version before; -to restores a given one",
      async () => {
        const back = await cliAs("a", "rollback", "svc");
        assert.equal(back.code, 0, back.stderr);
        assert.equal(back.stdout, `Response:\nRolled back svc to revision ${revisions[1]}\n`);
        assert.deepEqual(await getService("svc", as("b")), sampleInfo(1));
        const to = await cliAs("a", "rollback", "svc", "-to", String(revisions[0]), "-json");
        assert.equal(to.code, 0, to.stderr);
        assert.deepEqual(JSON.parse(to.stdout), {
          name: "svc",
          response: `Rolled back svc to revision ${revisions[0]}`,
        });
        assert.deepEqual(await getService("svc", as("b")), sampleInfo(2));
        const history = await serviceHistory("svc", as("b"));
        assert.equal(history.length, 4);
        assert.deepEqual(history.map((v) => v.Peer), [ids.a, ids.a, ids.a, ids.a]);
        const bad = await cliAs("a", "rollback", "svc", "-to", "zero");
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /-to: "zero" is not a revision/);
      },
    );

    await t.step("rollback and chown through the library: refused for B, done for A", async () => {
      await assert.rejects(() => rollbackService("svc", as("b")), WriteRefusedError);
      await assert.rejects(() => chownService("svc", ids.b, as("b")), WriteRefusedError);
      assert.equal(
        await rollbackService("svc", as("a"), revisions[1]),
        `Rolled back svc to revision ${revisions[1]}`,
      );
      assert.deepEqual(await getService("svc", as("b")), sampleInfo(1));
    });

    await t.step("A's CLI chown gives the name to B, who may then write it and A not", async () => {
      const res = await cliAs("a", "chown", "svc", ids.b);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stdout, `Response:\nOwner of svc is now ${ids.b}\n`);
      await addService("svc", sampleInfo(3), as("b"));
      await assert.rejects(() => addService("svc", sampleInfo(4), as("a")), WriteRefusedError);
      const badId = await cliAs("b", "chown", "svc", "12D3KooWFAKE");
      assert.equal(badId.code, 2);
      assert.match(badId.stderr, /<peer-id>: not a peer id/);
    });

    await t.step("the admin's CLI may chown and delete any name", async () => {
      const chown = await cliAs("admin", "chown", "svc", ids.a);
      assert.equal(chown.code, 0, chown.stderr);
      const del = await cliAs("admin", "delete", "svc");
      assert.equal(del.code, 0, del.stderr);
      assert.equal(del.stdout, "Response:\nDeleted 1 entry from hash lookup\n");
      const history = await serviceHistory("svc", as("a"));
      assert.equal(history[0].Op, "delete");
      assert.equal(history[0].Peer, ids.admin);
      // Unknown names on rollback are refusals too.
      const unknown = await cliAs("a", "rollback", "no-such-svc");
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^registry-cli: Error: /);
    });
  } finally {
    await service.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
