/**
 * The watch client against a peer that ends a stream inside a revision: one
 * transaction (group commit) changes several names at one revision, so a
 * resumption must deliver the rest of that revision, and nothing twice.
 */
import assert from "node:assert/strict";
import { multiaddr } from "@multiformats/multiaddr";
import { createRegistryNode } from "../../src/p2p/node.ts";
import { RegistryClient } from "../../src/client/registry_client.ts";
import type { ServiceChange } from "../../src/client/watch.ts";
import { WATCH_PROTOCOL } from "../../src/protocol/ids.ts";
import {
  decodeWatchRequest,
  encodeWatchEvent,
  type WatchRequest,
} from "../../src/protocol/messages.ts";
import { readToEnd } from "../../src/protocol/stream_io.ts";
import { sampleInfo } from "../_registry.ts";

const PSK = "watch-client-test";

Deno.test("watch: a stream cut inside a revision resumes with the rest of it, nothing twice", async () => {
  await using stack = new AsyncDisposableStack();
  const service = await createRegistryNode({ psk: PSK, listen: ["/ip4/127.0.0.1/tcp/0"] });
  stack.defer(() => service.stop());
  const requests: WatchRequest[] = [];
  const put = (name: string, revision: number) =>
    encodeWatchEvent({
      Type: "put",
      Name: name,
      InfoStr: JSON.stringify(sampleInfo(revision)),
      Revision: revision,
    });
  await service.handle(WATCH_PROTOCOL, async (stream) => {
    const request = decodeWatchRequest(
      new TextDecoder().decode(await readToEnd(stream, { maxBytes: 4096 })),
    );
    requests.push(request);
    const lines = requests.length === 1
      // Revision 5 changed a and b together; the stream ends after a.
      ? [put("z", 4), put("a", 5)]
      : [put("a", 5), put("b", 5), put("c", 6), encodeWatchEvent({ Type: "synced", Revision: 6 })];
    stream.send(new TextEncoder().encode(lines.join("")));
    if (requests.length === 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      stream.abort(new Error("cut inside revision 5"));
    }
  });

  const node = await createRegistryNode({ psk: PSK });
  stack.defer(() => node.stop());
  await node.dial(multiaddr(service.getMultiaddrs()[0]));
  const controller = new AbortController();
  stack.defer(() => controller.abort());
  const seen: string[] = [];
  const client = new RegistryClient({ node });
  for await (const change of client.watch({ fromRevision: 3, signal: controller.signal })) {
    seen.push(describe(change));
    if (change.type === "synced") break;
  }
  assert.deepEqual(seen, ["put z@4", "put a@5", "put b@5", "put c@6", "synced@6"]);
  // The resumption asked for everything after revision 4, the last one delivered whole.
  assert.deepEqual(requests.map((r) => r.FromRevision), [3, 4]);
});

function describe(change: ServiceChange): string {
  if (change.type === "put" || change.type === "delete") {
    return `${change.type} ${change.name}@${change.revision}`;
  }
  return change.type === "synced" ? `synced@${change.revision}` : change.type;
}
