/**
 * Workarounds for two bugs in `xsalsa20` 1.2 as `@libp2p/pnet` uses it. Its
 * ciphers (two per connection) share one WebAssembly memory of at most
 * 64 MiB: a 64-byte slot per cipher, then room for the message being
 * encrypted. When the memory cannot grow, the RangeError is thrown in pnet's
 * socket listener and ends the process.
 *
 * - Each cipher keeps its own view of the memory, and growing the memory
 *   detaches every other view. A cipher whose view was detached sees a memory
 *   of length 0, so its next update grows the memory again, by all the room it
 *   needs. Once one large message had grown the memory, connections taking
 *   turns grew it on every message: this ended the registry-service in the
 *   bench (a 3 MB list, then 50 clients at once).
 * - pnet never finalizes its ciphers, so their slots are never reused: every
 *   connection ever opened keeps 128 bytes, and after about half a million
 *   connections the slots alone fill the memory.
 *
 * @module
 */
import xsalsa20 from "xsalsa20";
import type { ConnectionProtector, MessageStream } from "@libp2p/interface";

/** The parts of xsalsa20's (unexported) WebAssembly cipher that the fix touches. */
interface WasmCipher {
  _memory: Uint8Array;
  realloc(size: number): void;
  finalize(): void;
}

/** The ciphers of pnet's protected connection (public fields of its BoxMessageStream). */
interface ProtectedConnection extends MessageStream {
  maConn?: MessageStream;
  inboundXor?: { finalize(): void };
  outboundXor?: { finalize(): void };
}

const FIXED = Symbol.for("@physarum/registry/xsalsa20-shared-view");

/**
 * Makes xsalsa20's ciphers share one view of their memory that is always
 * current, so the memory grows only when a message needs more room than it
 * has, and finalizing a cipher (which zeroes its slot through its view) works
 * after the memory grew. Idempotent; a no-op when xsalsa20 runs without
 * WebAssembly.
 *
 * @example
 * ```ts
 * import { shareXsalsa20MemoryView } from "./_pnet_cipher.ts";
 * shareXsalsa20MemoryView();
 * ```
 */
export function shareXsalsa20MemoryView(): void {
  const probe = xsalsa20(new Uint8Array(24), new Uint8Array(32));
  const cipher = probe._xor as WasmCipher;
  const proto = Object.getPrototypeOf(cipher);
  if (proto[FIXED] || typeof proto.realloc !== "function") return probe.finalize();
  // Fresh: the probe was made just now, and from here on the memory only grows below.
  let current = cipher._memory;
  const { realloc, finalize } = proto as WasmCipher;
  proto.realloc = function (this: WasmCipher, size: number): void {
    this._memory = current;
    if (size < current.length) return;
    realloc.call(this, size);
    current = this._memory;
  };
  proto.finalize = function (this: WasmCipher): void {
    this._memory = current;
    finalize.call(this);
  };
  proto[FIXED] = true;
  probe.finalize();
}

const DONE = new Set(["closed", "aborted", "reset"]);

/**
 * Wraps pnet's protector so that a connection's ciphers give their slots
 * back once both the protected connection and the socket under it are
 * closed: neither can encrypt or decrypt anything after that. Applies
 * {@linkcode shareXsalsa20MemoryView} too.
 *
 * @example
 * ```ts ignore
 * import { preSharedKey } from "@libp2p/pnet";
 * const protector = releasingCipherSlots(preSharedKey({ psk: swarmKey(key) }));
 * ```
 */
export function releasingCipherSlots(
  factory: () => ConnectionProtector,
): () => ConnectionProtector {
  shareXsalsa20MemoryView();
  return () => {
    const protector = factory();
    return {
      async protect(connection, options) {
        const box: ProtectedConnection = await protector.protect(connection, options);
        const streams = [box, box.maConn ?? connection];
        let released = false;
        const release = () => {
          if (released || !streams.every((s) => DONE.has(s.status))) return;
          released = true;
          box.inboundXor?.finalize();
          box.outboundXor?.finalize();
        };
        for (const s of streams) s.addEventListener("close", release, { once: true });
        release(); // both may have closed during the handshake
        return box;
      },
    };
  };
}
