/**
 * Whom a client with bootstraps asks: only its bootstraps and the
 * registry-service instances they list. A PSK holder connected to a platform
 * node (which listens) and answering `/get/0.1` with a forged entry is never
 * asked, not even while the node's registry-service is unreachable (a
 * restart, a crash, a partition); before, the node's client moved on to the
 * next connected peer that spoke the protocol, the attacker, and returned the
 * forged image: code execution on the node, with no write, owner check,
 * history or audit line.
 */
import assert from "node:assert/strict";
import { multiaddr } from "@multiformats/multiaddr";
import {
  addService,
  createRegistryNode,
  getService,
  parseBootstraps,
  RegistryClient,
  type RegistryNode,
  type ServiceInfo,
} from "../../mod.ts";
import { readToEnd, sendAndClose } from "../../src/protocol/stream_io.ts";
import { GET_PROTOCOL } from "../../src/protocol/ids.ts";
import { sampleInfo, type ServiceProcess, startService } from "../_registry.ts";
import { PSK as CLUSTER_PSK, startCluster, stopAll } from "../cluster/_cluster.ts";

const PSK = "review-forged-read";
const FORGED: ServiceInfo = {
  ...sampleInfo(1),
  DockerHash: `evil.example/pwn@sha256:${"66".repeat(32)}`,
};

/** A PSK holder that answers every get with {@linkcode FORGED}, connected to `victim`. */
async function startAttacker(psk: string, victim: RegistryNode): Promise<RegistryNode> {
  const attacker = await createRegistryNode({ psk, listen: ["/ip4/127.0.0.1/tcp/0"] });
  await attacker.handle(GET_PROTOCOL, async (stream) => {
    await readToEnd(stream, { maxBytes: 1024, totalMs: 5_000 });
    const answer = JSON.stringify({ InfoStr: JSON.stringify(FORGED), LookupOk: true });
    await sendAndClose(stream, new TextEncoder().encode(answer));
  });
  await attacker.dial(victim.getMultiaddrs()[0]);
  // Identify tells the victim the attacker's protocols.
  const speaksGet = () =>
    victim.peerStore.get(attacker.peerId).then(
      (p) => p.protocols.includes(GET_PROTOCOL),
      () => false,
    );
  while (!(await speaksGet())) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return attacker;
}

Deno.test("a platform node's client never takes a forged get answer from a non-registry peer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "forged-read-" });
  const service = await startService({ psk: PSK });
  // A platform node that runs services: it listens and asks the registry through its bootstrap.
  const victim = await createRegistryNode({ psk: PSK, listen: ["/ip4/127.0.0.1/tcp/0"] });
  let attacker: RegistryNode | undefined;
  try {
    await addService("svc", sampleInfo(1), {
      bootstraps: [service.addr],
      psk: PSK,
      keyFile: `${dir}/owner.key`,
    });
    await victim.dial(multiaddr(service.addr));
    const target = { node: victim, bootstraps: parseBootstraps([service.addr]) };
    assert.deepEqual(await getService("svc", target), sampleInfo(1), "the real entry first");

    attacker = await startAttacker(PSK, victim);
    // The registry-service is unreachable for a moment (a restart, a crash, a partition).
    await service.stop();

    // Refused or unreachable is right; a forged entry is not.
    const info = await getService("svc", target).catch((err) => err as Error);
    assert.ok(
      info instanceof Error,
      `the node's client took an entry from a peer that is no registry-service: ${
        (info as ServiceInfo).DockerHash
      }`,
    );
  } finally {
    await attacker?.stop();
    await victim.stop();
    await service.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a client on a node dials its bootstraps itself (parseBootstraps, no dial first)", async () => {
  const service = await startService({ psk: PSK });
  const node = await createRegistryNode({ psk: PSK });
  try {
    await addService("dialled", sampleInfo(2), { bootstraps: [service.addr], psk: PSK });
    const target = { node, bootstraps: parseBootstraps([service.addr]) };
    assert.deepEqual(await getService("dialled", target), sampleInfo(2));
  } finally {
    await node.stop();
    await service.stop();
  }
});

Deno.test("with its bootstrap gone, a client asks the instances it listed, not other peers", async () => {
  const services: (ServiceProcess | undefined)[] = [];
  const victim = await createRegistryNode({ psk: CLUSTER_PSK, listen: ["/ip4/127.0.0.1/tcp/0"] });
  let attacker: RegistryNode | undefined;
  try {
    const [a] = await startCluster(services);
    await addService("svc", sampleInfo(1), { bootstraps: [a.addr], psk: CLUSTER_PSK });
    const client = new RegistryClient({ node: victim, bootstraps: parseBootstraps([a.addr]) });
    assert.deepEqual(await client.get("svc"), sampleInfo(1));
    // What the client learns, and falls back on: the instances its bootstrap lists.
    assert.equal((await client.members()).length, 3);

    attacker = await startAttacker(CLUSTER_PSK, victim);
    assert.equal(await a.stop(), 0);
    assert.deepEqual(await client.get("svc"), sampleInfo(1), "answered by another instance");
  } finally {
    await attacker?.stop();
    await victim.stop();
    await stopAll(services);
  }
});
