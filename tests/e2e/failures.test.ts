/**
 * The CLI fails within its time limit and says what happened; the same
 * situation gives the same message every time. Peers are plain nodes on
 * loopback (no registry-service needed to fail).
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { createRegistryNode } from "../../mod.ts";
import { runCli } from "../_registry.ts";
import { cli } from "../_cli_io.ts";

/** The address of a peer that is gone: nothing listens on its port. */
async function deadAddress(): Promise<string> {
  const node = await createRegistryNode({ listen: ["/ip4/127.0.0.1/tcp/0"] });
  const addr = node.getMultiaddrs()[0].toString();
  await node.stop();
  return addr;
}

/** The error line (the last one; with -verbose, retries are logged before it). */
function errorLine(stderr: string): string {
  return stderr.trimEnd().split("\n").at(-1) ?? "";
}

Deno.test("cold get against a dead address fails within the time limit: 10 s default, -timeout 3s", async () => {
  const addr = await deadAddress();
  const port = addr.split("/")[4];
  for (const [args, limitMs] of [[[], 10_000], [["-timeout", "3s"], 3_000]] as const) {
    const started = Date.now();
    // A cold start: a process of its own, as a user runs it.
    const res = await runCli([...args, "-bootstrap", addr, "get", "svc"]);
    const took = Date.now() - started;
    assert.equal(res.code, 1, res.stderr);
    // Generous: the limit plus Deno's start-up on a busy machine.
    assert.ok(took < limitMs + 6_000, `took ${took} ms with ${args.join(" ") || "no -timeout"}`);
    assert.equal(
      errorLine(res.stderr),
      `registry-cli: failed to connect to any bootstrap: connection refused by 127.0.0.1:${port} ` +
        "(nothing listens there; is the registry-service running?); gave up: the time limit ran out",
    );
  }
});

Deno.test("a refused connection prints one line; -v the retries before it", async () => {
  const addr = await deadAddress();
  const dir = await Deno.makeTempDir();
  try {
    const args = ["-keyfile", `${dir}/key`, "-timeout", "3s", "-bootstrap", addr, "get", "svc"];
    const quiet = await cli(args);
    assert.equal(quiet.code, 1);
    assert.match(quiet.stderr, /^registry-cli: failed to connect to any bootstrap: [^\n]*\n$/);
    const verbose = await cli(["-v", ...args]);
    assert.equal(verbose.code, 1);
    assert.match(verbose.stderr, /INFO failed to connect .* \(round 1\); retrying in \d+ ms\n/);
    assert.equal(errorLine(verbose.stderr), errorLine(quiet.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("P2P_TIMEOUT sets the time limit when -timeout is not given", async () => {
  const addr = await deadAddress();
  const started = Date.now();
  const res = await cli(["-bootstrap", addr, "list"], { P2P_TIMEOUT: "1s" });
  assert.equal(res.code, 1);
  assert.ok(Date.now() - started < 6_000, `took ${Date.now() - started} ms`);
  assert.match(errorLine(res.stderr), /connection refused by 127\.0\.0\.1:\d+ .*time limit/);
});

Deno.test("the same situation gives the same message every time, saying what happened", async (t) => {
  const PSK = "failures-test";
  const withPsk = await createRegistryNode({
    psk: PSK,
    listen: ["/ip4/127.0.0.1/tcp/0"],
  });
  const withoutPsk = await createRegistryNode({ listen: ["/ip4/127.0.0.1/tcp/0"] });
  const pskAddr = withPsk.getMultiaddrs()[0].toString();
  const plainAddr = withoutPsk.getMultiaddrs()[0].toString();
  const hostPort = (addr: string) => `127.0.0.1:${addr.split("/")[4]}`;
  /**
   * Runs the CLI three times; every run must fail with the same last line. `retried`: whether
   * the failure was retried (the client logs each retry), which it must not be when another
   * round cannot help (a wrong peer id or key); `"either"` when either may happen.
   */
  const failTwice = async (args: string[], retried: boolean | "either" = false) => {
    const lines = [];
    for (let i = 0; i < 3; i++) {
      const res = await cli(["-verbose", ...args, "list"]);
      assert.equal(res.code, 1, res.stderr);
      lines.push(errorLine(res.stderr));
      if (retried !== "either") {
        assert.equal(/retrying in \d+ ms/.test(res.stderr), retried, res.stderr);
      }
    }
    assert.equal(new Set(lines).size, 1, lines.join("\n"));
    return lines[0];
  };
  try {
    await t.step("peer id mismatch: expected and actual ids", async () => {
      const stale = peerIdFromPrivateKey(await generateKeyPair("Ed25519")).toString();
      const addr = pskAddr.replace(/\/p2p\/.*/, `/p2p/${stale}`);
      const line = await failTwice(["-bootstrap", addr, "-psk", PSK]);
      assert.equal(
        line,
        `registry-cli: failed to connect to any bootstrap: peer id mismatch at ${
          hostPort(pskAddr)
        }: expected ${stale}, the peer there is ${withPsk.peerId} ` +
          "(the bootstrap address is out of date)",
      );
      // Without any PSK on either side it is the same mismatch, not a key problem.
      const plainStale = plainAddr.replace(/\/p2p\/.*/, `/p2p/${stale}`);
      assert.match(await failTwice(["-bootstrap", plainStale]), /peer id mismatch/);
    });

    // A wrong key fails at once or hangs until libp2p's handshake timeout (6 s), at random; a
    // time limit shorter than that must not change what is said.
    await t.step("a differing PSK, with the default time limit and a short one", async () => {
      for (const limit of [[], ["-timeout", "2s"]]) {
        assert.equal(
          await failTwice([...limit, "-bootstrap", pskAddr, "-psk", "another"]),
          "registry-cli: failed to connect to any bootstrap: the pre-shared key differs from " +
            `the one ${hostPort(pskAddr)} uses (check -psk / P2P_PSK)`,
        );
      }
    });

    await t.step("no PSK against a private network, with both time limits", async () => {
      for (const limit of [[], ["-timeout", "2s"]]) {
        assert.equal(
          await failTwice([...limit, "-bootstrap", pskAddr]),
          `registry-cli: failed to connect to any bootstrap: ${
            hostPort(pskAddr)
          } runs a private network: give its pre-shared key (-psk / P2P_PSK)`,
        );
      }
    });

    await t.step("a PSK against a peer without one: refused, within the time limit", async () => {
      const started = Date.now();
      // A peer without a key closes at once or stays silent, at random: retried or not.
      const line = await failTwice(
        ["-timeout", "2s", "-bootstrap", plainAddr, "-psk", PSK],
        "either",
      );
      assert.ok(Date.now() - started < 3 * 2_000 + 6_000, `took ${Date.now() - started} ms`);
      assert.equal(
        line,
        `registry-cli: failed to connect to any bootstrap: ${
          hostPort(plainAddr)
        } did not complete the pre-shared key handshake: it closed the connection or did not ` +
          "answer (it runs without a pre-shared key, or is too busy); gave up: the time limit " +
          "ran out",
      );
    });

    await t.step("no registry-service among the peers", async () => {
      const line = await failTwice(["-timeout", "2s", "-bootstrap", pskAddr, "-psk", PSK], true);
      assert.equal(
        line,
        `registry-cli: no registry-service among the peers: 1 peer(s) reached (${withPsk.peerId}), ` +
          "none speaks /list/0.1, and the DHT found no other; gave up: the time limit ran out",
      );
    });
  } finally {
    await withPsk.stop();
    await withoutPsk.stop();
  }
});
