/**
 * A workaround for a bug in `xsalsa20` 1.2, the cipher of `@libp2p/pnet`.
 *
 * Every cipher (two per connection) keeps its own view of the one WebAssembly
 * memory they all share, and growing that memory detaches every other view.
 * A cipher whose view was detached sees a memory of length 0, so its next
 * update grows the memory again, by all the room it needs. Once one large
 * message has grown the memory, two connections taking turns grow it on every
 * message until WebAssembly refuses (64 MiB); the RangeError is thrown in
 * pnet's socket listener and ends the process. It ended the registry-service
 * in the bench: a 3 MB list, then 50 clients at once.
 *
 * @module
 */
import xsalsa20 from "xsalsa20";

/** The parts of xsalsa20's (unexported) WebAssembly cipher that the fix touches. */
interface WasmCipher {
  _memory: Uint8Array;
  realloc(size: number): void;
}

const FIXED = Symbol.for("@physarum/registry/xsalsa20-shared-view");

/**
 * Makes xsalsa20's ciphers share one view of their memory that is always
 * current, so the memory grows only when a message needs more room than it
 * has. Idempotent; a no-op when xsalsa20 runs without WebAssembly.
 *
 * @example
 * ```ts
 * import { shareXsalsa20MemoryView } from "./_xsalsa20_memory.ts";
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
  const realloc = proto.realloc as WasmCipher["realloc"];
  proto.realloc = function (this: WasmCipher, size: number): void {
    this._memory = current;
    if (size < current.length) return;
    realloc.call(this, size);
    current = this._memory;
  };
  proto[FIXED] = true;
  probe.finalize();
}
