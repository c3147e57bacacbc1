/**
 * `registry-cli add` as a user runs it: `cli.ts` in its own process, on the
 * private Docker engine and local registry of tests/_docker_env.ts, against a
 * real registry-service on a private network (PSK).
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { usageHint } from "../../src/cli/commands.ts";
import { skipDockerTests, withDockerEnv } from "../_docker_env.ts";
import { freePort, runCli, startService } from "../_registry.ts";
import {
  config,
  imageExists,
  makeProxyRepo,
  makeServiceDir,
  manifestDigest,
  saveCid,
} from "./_helpers.ts";

const PSK = "add-e2e-passphrase";
const ignore = await skipDockerTests();

Deno.test(
  { name: "registry-cli add through cli.ts against a real registry-service", ignore },
  async (t) => {
    await withDockerEnv(async (de) => {
      const service = await startService({ psk: PSK });
      try {
        const cli = (...args: string[]) =>
          runCli(["-bootstrap", service.addr, "-psk", PSK, ...args], de.env);
        const dir = await makeServiceDir(de.tmp);
        const { flags: proxyFlags } = await makeProxyRepo(de.tmp);

        await t.step("a missing Copy source exits 1 and registers nothing", async () => {
          const configPath = `${de.tmp}/missing.json`;
          await Deno.writeTextFile(
            configPath,
            config(de.baseImage, { Copy: [["nope.txt", "x"]] }),
          );
          const image = `${de.registry}/team/missing:1`;
          const res = await cli("add", "-dir", dir, ...proxyFlags, configPath, image, "missing");
          equal(res.code, 1, res.stderr);
          match(res.stderr, /^registry-cli: add missing failed: .*"nope\.txt" does not exist/m);
          ok(!res.stdout.includes("Response:"), res.stdout);
          ok(!(await imageExists(de, image)), "nothing was built");
          const list = await cli("list");
          equal(list.code, 0, list.stderr);
          equal(list.stdout, "Response:\n");
        });

        await t.step("full add registers the pushed digest and the content hash", async () => {
          const configPath = `${de.tmp}/svc.json`;
          await Deno.writeTextFile(configPath, config(de.baseImage));
          const image = `${de.registry}/team/e2e:1.0`;
          const res = await cli("add", "-dir", dir, ...proxyFlags, configPath, image, "e2e-svc");
          equal(res.code, 0, res.stderr);
          // Progress goes to stderr in whole lines; stdout has the result only.
          match(res.stderr, /Dockerfile:\nFROM test-busybox:latest\nWORKDIR \/app\n/);
          match(res.stderr, /^Hashing: \d+(\.\d)? [kM]?B done$/m);
          match(res.stdout, /^Response:\n/);

          const digest = await manifestDigest(de.registry, "team/e2e", "1.0");
          ok(digest, "the registry has the manifest");
          const contentHash = await saveCid(de, image);
          const expected = {
            ContentHash: contentHash,
            DockerHash: `${de.registry}/team/e2e@${digest}`,
            NetworkSoftReq: { RTT: 100 },
            NetworkHardReq: { RTT: 250 },
            CpuReq: 20,
            MemoryReq: 1000,
          };
          const answer = res.stdout.slice(res.stdout.lastIndexOf("Response:\n"));
          match(answer, /^Response:\nAdded \{e2e-svc: \{.*\}\}\n$/);
          deepEqual(JSON.parse(answer.slice("Response:\nAdded {e2e-svc: ".length, -2)), expected);

          const get = await cli("get", "e2e-svc");
          equal(get.code, 0, get.stderr);
          ok(get.stdout.startsWith("Response:\n"), get.stdout);
          const infoLine = get.stdout.slice("Response:\n".length);
          deepEqual(JSON.parse(infoLine), expected);

          const list = await cli("list");
          equal(list.stdout, `Response:\nService Name: e2e-svc, Info: ${infoLine}`);
        });

        await t.step("-q -json: one JSON object on stdout, nothing on stderr", async () => {
          const image = `${de.registry}/team/e2e:1.0`;
          const res = await cli(
            "add",
            "-q",
            "-json",
            "-use-existing-image",
            "-content-id",
            "QmQuiet",
            `${de.tmp}/svc.json`,
            image,
            "quiet-svc",
          );
          equal(res.code, 0, res.stderr);
          equal(res.stderr, "");
          const result = JSON.parse(res.stdout);
          equal(result.service, "quiet-svc");
          equal(result.registered, true);
          equal(result.info.ContentHash, "QmQuiet");
        });

        await t.step("a registry that cannot be reached: exit 1 before pushing", async () => {
          const configPath = `${de.tmp}/svc.json`;
          const image = `${de.registry}/team/unreached:1`;
          const gone = service.addr.replace(/\/tcp\/\d+\//, `/tcp/${freePort()}/`);
          const res = await runCli([
            "-bootstrap",
            gone,
            "-psk",
            PSK,
            "-timeout",
            "3s",
            "add",
            "-dir",
            dir,
            ...proxyFlags,
            configPath,
            image,
            "unreached",
          ], de.env);
          equal(res.code, 1, res.stderr);
          match(
            res.stderr,
            /^registry-cli: add unreached: the registry cannot be reached, so nothing was pushed or registered: failed to connect to any bootstrap: connection refused by 127\.0\.0\.1:\d+/m,
          );
          equal(res.stdout, "");
          equal(await manifestDigest(de.registry, "team/unreached", "1"), undefined);
        });
      } finally {
        await service.stop();
      }
    });
  },
);

Deno.test("registry-cli add with a wrong argument count exits 2, pointing to the add help", async () => {
  for (
    const [args, problem] of [
      [["a.json", "img:1"], "missing argument <service-name>"],
      [["a.json", "img:1", "svc", "extra"], 'unexpected argument "extra"'],
    ] as const
  ) {
    // No bootstrap or Docker is needed: usage is checked before anything else.
    const res = await runCli(["add", ...args], {
      P2P_BOOTSTRAPS: "",
      DOCKER_HOST: "unix:///nonexistent.sock",
    });
    equal(res.code, 2, res.stderr);
    equal(res.stdout, "");
    equal(res.stderr, `registry-cli: ${problem}\n${usageHint("add")}\n`);
  }
});
