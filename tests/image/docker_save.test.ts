/**
 * `docker save` as add uses it: its output streams into contentHash, and no
 * `docker save` process outlives a hash that failed or a save nobody read.
 */
import { equal, ok } from "node:assert/strict";
import { Docker, DockerError } from "../../src/image/docker.ts";
import { contentHash } from "../../src/image/content_hash.ts";
import { skipDockerTests, withDockerEnv } from "../_docker_env.ts";
import { saveCid } from "./_helpers.ts";

/** PIDs of this process's `docker save <image>` children (from /proc: Linux only). */
async function dockerSaves(image: string): Promise<number[]> {
  const pids = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      // Fields after the parenthesised command name: state, ppid, ...
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      const [program, ...args] = cmdline.split("\0").slice(0, -1);
      if (
        Number(ppid) === Deno.pid && state !== "Z" && program.split("/").at(-1) === "docker" &&
        args.join(" ") === `save ${image}`
      ) pids.push(Number(entry.name));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Passes the first chunk on, then a chunk that is not bytes: hashing fails partway. */
function corruptAfterFirstChunk(): TransformStream<Uint8Array, Uint8Array> {
  let passed = false;
  return new TransformStream({
    transform(chunk, controller) {
      controller.enqueue(passed ? ({ corrupt: true } as unknown as Uint8Array) : chunk);
      passed = true;
    },
  });
}

const ignore = await skipDockerTests();

Deno.test({ name: "docker save is hashed, and killed when hashing fails", ignore }, async (t) => {
  await withDockerEnv(async (de) => {
    const docker = new Docker({ env: de.env });
    // A name of its own, so the process check sees only this test's saves.
    const image = "save-test:1";
    await de.docker(["tag", de.baseImage, image]);

    await t.step("contentHash of the save stream equals ipfs_cid of the tar", async () => {
      const { stream, done } = docker.save(image);
      const [hash] = await Promise.all([contentHash(stream), done]);
      equal(hash, await saveCid(de, image));
    });

    await t.step("hashing that fails partway kills docker save", async () => {
      const save = docker.save(image);
      const reader = save.stream.getReader();
      const first = await reader.read();
      ok(!first.done && first.value.length > 0);
      // The image tar is larger than a pipe's buffer: docker save is blocked writing now.
      equal((await dockerSaves(image)).length, 1, "docker save runs");
      reader.releaseLock();
      const [hashed, saved] = await Promise.allSettled([
        contentHash(save.stream.pipeThrough(corruptAfterFirstChunk())),
        save.done,
      ]);
      equal(hashed.status, "rejected");
      ok(
        saved.status === "rejected" && saved.reason instanceof DockerError &&
          /docker save of save-test:1 was stopped/.test(saved.reason.message),
        String((saved as PromiseRejectedResult).reason),
      );
      equal((await dockerSaves(image)).length, 0, "no docker save left");
    });

    await t.step("disposing a save that was not read to the end kills docker save", async () => {
      {
        await using save = docker.save(image);
        const reader = save.stream.getReader();
        ok(!(await reader.read()).done);
        equal((await dockerSaves(image)).length, 1, "docker save runs");
      }
      equal((await dockerSaves(image)).length, 0, "no docker save left");
    });
  });
});
