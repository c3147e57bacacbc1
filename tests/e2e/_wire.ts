/**
 * Driving a registry-service's wire protocol directly from a libp2p node of
 * a chosen identity: one request per stream, as any client would send it.
 */
import { multiaddr } from "@multiformats/multiaddr";
import { createRegistryNode, type RegistryNode } from "../../mod.ts";
import { readToEnd } from "../../src/protocol/stream_io.ts";

/** What a request ended with: the answer text, or the error that ended the stream. */
export interface WireOutcome {
  text?: string;
  error?: Error;
}

/** A peer of its own identity that sends raw requests to one service. */
export interface WirePeer {
  node: RegistryNode;
  /** Its peer id, as the service sees it. */
  id: string;
  /** The service's multiaddr (set it before sending). */
  addr: string;
  /** Sends `payload` on `protocol`; resolves with the answer or the reset. */
  send(protocol: string, payload: string): Promise<WireOutcome>;
  /** Like {@linkcode send} but throws on a reset and returns the answer text. */
  ask(protocol: string, payload: string): Promise<string>;
}

/** Starts a node of a fresh identity talking to the service at `addr` (settable later). */
export async function wirePeer(psk: string, addr = ""): Promise<WirePeer> {
  const node = await createRegistryNode({ psk });
  const send = async (protocol: string, payload: string): Promise<WireOutcome> => {
    try {
      const stream = await node.dialProtocol(multiaddr(peer.addr), protocol);
      stream.send(new TextEncoder().encode(payload));
      await stream.close();
      const bytes = await readToEnd(stream, {
        maxBytes: 16 << 20,
        signal: AbortSignal.timeout(15_000),
      });
      return { text: new TextDecoder().decode(bytes) };
    } catch (error) {
      return { error: error as Error };
    }
  };
  const peer: WirePeer = {
    node,
    id: node.peerId.toString(),
    addr,
    send,
    async ask(protocol, payload) {
      const { text, error } = await send(protocol, payload);
      if (error) throw new Error(`${protocol} ${payload.slice(0, 80)} was reset`, { cause: error });
      return text!;
    },
  };
  return peer;
}

/** An `/add/0.1` payload. */
export function addPayload(name: string, info: unknown): string {
  return JSON.stringify({
    Name: name,
    InfoStr: typeof info === "string" ? info : JSON.stringify(info),
  });
}
