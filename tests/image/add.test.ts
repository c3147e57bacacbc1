/**
 * `registry-cli add` end to end on a real Docker engine, a real local
 * registry and a real git repository (see tests/_docker_env.ts).
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { type AddDeps, runAdd as runAddOptions } from "../../src/cli/add.ts";
import { addCommand, addOptions } from "../../src/cli/commands/add.ts";
import { commandUsage, parseCommandArgs } from "../../src/cli/command.ts";
import { createProgress } from "../../src/cli/progress.ts";
import { CommandError, UsageError } from "../../src/cli/errors.ts";
import type { ServiceInfo } from "../../src/protocol/service_info.ts";
import { skipDockerTests, withDockerEnv } from "../_docker_env.ts";
import {
  config,
  imageExists,
  makeProxyRepo,
  makeServiceDir,
  manifestDigest,
  proxyScript,
  saveCid,
  SERVICE,
} from "./_helpers.ts";

interface Recorder {
  deps: AddDeps;
  calls: { name: string; info: ServiceInfo }[];
  /** How often the registry was looked for. */
  reached: number;
  out: string[];
  err: string[];
  /** Progress, as written to a non-terminal stderr. */
  progress: string;
}

/** Records what add does; `unreachable` makes looking for the registry fail. */
function recorder(env: Record<string, string>, unreachable?: Error): Recorder {
  const rec: Recorder = {
    calls: [],
    reached: 0,
    out: [],
    err: [],
    progress: "",
    deps: {
      reach: () => {
        rec.reached++;
        return unreachable ? Promise.reject(unreachable) : Promise.resolve();
      },
      register: (name, info) => {
        rec.calls.push({ name, info });
        return Promise.resolve(`Added {${name}: ${JSON.stringify(info)}}`);
      },
      stdout: (text) => rec.out.push(text),
      stderr: (text) => rec.err.push(text),
      progress: createProgress({ write: (text) => (rec.progress += text), isTerminal: false }),
      env,
    },
  };
  return rec;
}

const ADD_USAGE = commandUsage(addCommand);

/** Runs add as the CLI does after the command's name: flags and arguments, then the build. */
async function runAdd(args: string[], deps: AddDeps): Promise<void> {
  const parsed = parseCommandArgs(addCommand, args);
  if (parsed === undefined) return deps.stdout(ADD_USAGE);
  await runAddOptions(addOptions(parsed.args, parsed.flags), deps);
}

const ignore = await skipDockerTests();

Deno.test({ name: "registry-cli add on a real Docker engine", ignore }, async (t) => {
  await withDockerEnv(async (de) => {
    const dir = await makeServiceDir(de.tmp);
    await Deno.writeTextFile(`${de.tmp}/secret`, "outside\n");
    const configPath = `${de.tmp}/svc.json`;
    await Deno.writeTextFile(configPath, config(de.baseImage));
    const { repo, v1, flags: proxyFlags } = await makeProxyRepo(de.tmp);
    const run = (image: string, ...cmd: string[]) =>
      de.docker(["run", "--rm", "--network", "none", image, ...cmd]);

    const image = `${de.registry}/team/svc:1.0`;
    let first: ServiceInfo | undefined;

    await t.step(
      "full add: pushed digest, content hash and requirements are registered",
      async () => {
        const rec = recorder(de.env);
        await runAdd(["-dir", dir, ...proxyFlags, configPath, image, "echo-svc"], rec.deps);
        equal(rec.calls.length, 1);
        const { name, info } = rec.calls[0];
        equal(name, "echo-svc");
        const digest = await manifestDigest(de.registry, "team/svc", "1.0");
        ok(digest, "the registry has the manifest");
        equal(info.DockerHash, `${de.registry}/team/svc@${digest}`);
        equal(info.ContentHash, await saveCid(de, image));
        deepEqual(
          [info.NetworkSoftReq, info.NetworkHardReq, info.CpuReq, info.MemoryReq],
          [{ RTT: 100 }, { RTT: 250 }, 20, 1000],
        );
        // The result on stdout; the steps, the Dockerfile and the tools' output on stderr.
        deepEqual(rec.out, [`Response:\nAdded {echo-svc: ${JSON.stringify(info)}}`]);
        equal(rec.reached, 1, "the registry was looked for once");
        const progress = rec.progress;
        match(progress, /Dockerfile:\nFROM test-busybox:latest\nWORKDIR \/app\n/);
        match(progress, /COPY svc\.sh bin\/svc\.sh\nCOPY web www\nRUN echo built > run\.txt\n/);
        match(progress, /^Cloning proxy from /m);
        match(progress, /^Hashing .* \(docker save, about \d+(\.\d)? [kM]?B\)$/m);
        match(progress, /^Hashing: \d+(\.\d)? [kM]?B done$/m);
        // Whole lines only: no line is a fragment of docker's output cut where a chunk ended.
        ok(!progress.includes("\r"), "carriage returns are resolved off a terminal");
        first = info;
      },
    );

    await t.step("the image runs the proxy (service mode, HEAD) and the service", async () => {
      const out = await run(image);
      match(out, /^service:\[127\.0\.0\.1\]\[8080\]$/m);
      match(
        out,
        /^proxy: v2\[--configfile\]\[conf\.json\]\[4201\]\[echo-svc\]\[127\.0\.0\.1:8080\]\[9010\]$/m,
      );
      const files = await run(
        image,
        "sh",
        "-c",
        "cat conf.json; echo; cat www/static/index.html bin/svc.sh run.txt; ls -l proxy; " +
          "./proxy a; cat proxy-args.txt",
      );
      ok(files.startsWith(
        '{"Perf":{"SoftReq":{"RTT":100},"HardReq":{"RTT":250}},"Bootstraps":null}\n<p>hello</p>\n',
      ));
      ok(files.includes(SERVICE + "built\n"));
      match(files, /^-rwxr-xr-x .* proxy$/m);
      ok(files.endsWith("v2 started\nv2[a]"));
    });

    await t.step("client mode with the proxy from an older commit", async () => {
      const clientConfig = `${de.tmp}/client.json`;
      await Deno.writeTextFile(clientConfig, config(de.baseImage, { ProxyClientMode: true }));
      const rec = recorder(de.env);
      const clientImage = `${de.registry}/team/client:1`;
      await runAdd(
        ["-dir", dir, ...proxyFlags, "-proxy-version", v1, clientConfig, clientImage, "client"],
        rec.deps,
      );
      equal(rec.calls.length, 1);
      match(await run(clientImage), /^proxy: v1\[--configfile\]\[conf\.json\]\[4201\]$/m);
    });

    await t.step("-custom-proxy, -proxy-cmd and -no-add build only", async () => {
      const custom = `${de.tmp}/custom-proxy`;
      await Deno.writeTextFile(custom, proxyScript("custom"), { mode: 0o644 });
      const rec = recorder(de.env);
      const localImage = `${de.registry}/team/local:2`;
      await runAdd([
        "-dir",
        dir,
        "-custom-proxy",
        custom,
        "-proxy-cmd",
        "./proxy --mode 'two words'",
        "-no-add",
        configPath,
        localImage,
        "local",
      ], rec.deps);
      equal(rec.calls.length, 0);
      equal(await manifestDigest(de.registry, "team/local", "2"), undefined, "nothing pushed");
      ok(rec.progress.includes("CMD ./proxy --mode 'two words' & ./bin/svc.sh"));
      equal(rec.reached, 0, "-no-add does not look for the registry");
      match(rec.out[0], /^Built .*local:2 \(sha256:[0-9a-f]{64}\)$/);
      match(await run(localImage), /^proxy: custom\[--mode\]\[two words\]$/m);
    });

    await t.step("an unreachable registry: built, then nothing pushed or registered", async () => {
      const rec = recorder(de.env, new Error("connection refused by 127.0.0.1:9"));
      const lonely = `${de.registry}/team/lonely:1`;
      await rejects(
        runAdd(["-dir", dir, ...proxyFlags, configPath, lonely, "lonely"], rec.deps),
        (e: Error) =>
          e instanceof CommandError &&
          /the registry cannot be reached, so nothing was pushed or registered: connection refused/
            .test(e.message),
      );
      equal(rec.calls.length, 0);
      equal(await manifestDigest(de.registry, "team/lonely", "1"), undefined, "nothing pushed");
      ok(await imageExists(de, lonely), "the build ran meanwhile");
    });

    await t.step("-json prints one result object", async () => {
      const rec = recorder(de.env);
      await runAdd(
        ["-json", "-use-existing-image", "-content-id", "QmJson", configPath, image, "json"],
        rec.deps,
      );
      equal(rec.out.length, 1);
      const result = JSON.parse(rec.out[0]);
      deepEqual(result.info, rec.calls[0].info);
      equal(result.service, "json");
      equal(result.registered, true);
      equal(result.response, `Added {json: ${JSON.stringify(rec.calls[0].info)}}`);
    });

    await t.step("-use-existing-image pulls and takes the digest from the pull", async () => {
      await de.docker(["rmi", image]);
      const rec = recorder(de.env);
      await runAdd(["-use-existing-image", configPath, image, "existing"], rec.deps);
      deepEqual(rec.calls[0].info, first);

      const withId = recorder(de.env);
      await runAdd(
        ["-use-existing-image", "-content-id", "QmMyOwnId", configPath, image, "existing"],
        withId.deps,
      );
      deepEqual(withId.calls[0].info, { ...first, ContentHash: "QmMyOwnId" });

      await de.docker(["rmi", image]);
      const noAdd = recorder(de.env);
      await runAdd(["-use-existing-image", "-no-add", configPath, image, "existing"], noAdd.deps);
      equal(noAdd.calls.length, 0);
      ok(await imageExists(de, image), "-no-add still pulls");
    });

    await t.step("-content-id replaces the hash of a built image", async () => {
      const rec = recorder(de.env);
      await runAdd(
        ["-dir", dir, ...proxyFlags, "-content-id", "QmGiven", configPath, image, "given"],
        rec.deps,
      );
      equal(rec.calls[0].info.ContentHash, "QmGiven");
      const digest = await manifestDigest(de.registry, "team/svc", "1.0");
      equal(rec.calls[0].info.DockerHash, `${de.registry}/team/svc@${digest}`);
    });

    /** Runs add expecting a CommandError; checks nothing was registered and returns the message. */
    const failing = async (args: string[], env = de.env): Promise<string> => {
      const rec = recorder(env);
      let message = "";
      await rejects(runAdd(args, rec.deps), (e: Error) => {
        message = e.message;
        return e instanceof CommandError && e.exitCode === 1;
      });
      equal(rec.calls.length, 0, "nothing registered");
      return message;
    };
    const failImage = `${de.registry}/team/fail:1`;
    const withConfig = async (name: string, text: string) => {
      const path = `${de.tmp}/${name}.json`;
      await Deno.writeTextFile(path, text);
      return path;
    };

    await t.step("config problems fail before anything is built", async () => {
      const missing = await withConfig(
        "missing",
        config(de.baseImage, { Copy: [["nope.txt", "x"]] }),
      );
      match(
        await failing(["-dir", dir, ...proxyFlags, missing, failImage, "f"]),
        /"nope\.txt" does not exist/,
      );
      const outside = await withConfig(
        "outside",
        config(de.baseImage, { Copy: [["../secret", "x"]] }),
      );
      match(
        await failing(["-dir", dir, ...proxyFlags, outside, failImage, "f"]),
        /"\.\.\/secret" is outside -dir/,
      );
      const absolute = await withConfig(
        "absolute",
        config(de.baseImage, { Copy: [[`${de.tmp}/secret`, "x"]] }),
      );
      match(await failing(["-dir", dir, ...proxyFlags, absolute, failImage, "f"]), /absolute path/);
      const broken = await withConfig(
        "broken",
        config(de.baseImage).replace('"CpuReq": 20,', '"CpuReq": 20'),
      );
      match(
        await failing(["-dir", dir, ...proxyFlags, broken, failImage, "f"]),
        /JSON syntax error at line 9, column 3:\n {2} {2}"MemoryReq": 1000,/,
      );
      ok(!(await imageExists(de, failImage)), "no image was built");
    });

    await t.step("a failing Run step, proxy step or push registers nothing", async () => {
      const badRun = await withConfig(
        "badrun",
        config(de.baseImage, { Run: ["echo step; exit 3"] }),
      );
      match(
        await failing(["-dir", dir, ...proxyFlags, badRun, failImage, "f"]),
        /docker build failed/,
      );

      match(
        await failing([
          "-dir",
          dir,
          ...proxyFlags,
          "-proxy-version",
          "no-such-ref",
          configPath,
          failImage,
          "f",
        ]),
        /proxy checkout failed/,
      );
      match(
        await failing([
          "-dir",
          dir,
          "-proxy-repo",
          `file://${repo}`,
          "-proxy-build",
          "exit 4",
          configPath,
          failImage,
          "f",
        ]),
        /proxy build failed \(exit code 4\)/,
      );
      match(
        await failing([
          "-dir",
          dir,
          "-proxy-repo",
          `file://${repo}`,
          "-proxy-build",
          "true",
          configPath,
          failImage,
          "f",
        ]),
        /proxy build output missing/,
      );
      match(
        await failing([
          "-dir",
          dir,
          "-proxy-repo",
          `file://${de.tmp}/no-repo`,
          configPath,
          failImage,
          "f",
        ]),
        /proxy clone failed/,
      );

      // A registry nobody listens on: the image builds, the push fails.
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const closedPort = (listener.addr as Deno.NetAddr).port;
      listener.close();
      const unreachable = `127.0.0.1:${closedPort}/team/svc:1`;
      match(
        await failing(["-dir", dir, ...proxyFlags, configPath, unreachable, "f"]),
        /docker push failed/,
      );
      ok(await imageExists(de, unreachable), "built, then the push failed");
    });

    await t.step("an unreachable Docker engine is one clear error", async () => {
      const env = { ...de.env, DOCKER_HOST: `unix://${de.tmp}/nothing.sock` };
      match(
        await failing(["-dir", dir, ...proxyFlags, configPath, failImage, "f"], env),
        /Docker engine is unreachable \(DOCKER_HOST: unix:\/\/.*nothing\.sock\)/,
      );
      match(
        await failing(["-dir", dir, ...proxyFlags, configPath, failImage, "f"], {
          ...de.env,
          PATH: "/nonexistent",
        }),
        /"docker" was not found on PATH/,
      );
    });
  });
});

Deno.test("add usage: --help prints usage, wrong arguments are usage errors", async () => {
  const rec = recorder({});
  await runAdd(["--help"], rec.deps);
  deepEqual(rec.out, [ADD_USAGE]);
  match(
    ADD_USAGE,
    /^Usage: registry-cli \[OPTIONS\] add \[options\] <config> <image-name> <service-name>/,
  );
  for (
    const flag of [
      "-dir",
      "-custom-proxy",
      "-proxy-version",
      "-proxy-repo",
      "-proxy-build",
      "-proxy-cmd",
      "-no-add",
      "-use-existing-image",
      "-content-id",
    ]
  ) {
    ok(ADD_USAGE.includes(`  ${flag}`), flag);
  }
  for (
    const args of [["a.json", "img"], ["a.json", "img", "svc", "extra"], ["-bogus", "a", "b", "c"]]
  ) {
    await rejects(
      runAdd(args, rec.deps),
      (e: Error) => e instanceof UsageError && e.command === "add",
    );
  }
  equal(rec.calls.length, 0);
});

Deno.test("add: an unreadable config is a command error", async () => {
  const rec = recorder({});
  await rejects(
    runAdd(["/nonexistent/svc.json", "img:1", "svc"], rec.deps),
    (e: Error) =>
      e instanceof CommandError && /cannot read config \/nonexistent\/svc\.json/.test(e.message),
  );
});
