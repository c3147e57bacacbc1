/**
 * etcd's KV `Range` and `Txn` as unary gRPC calls over our own HTTP/2
 * connection (`_h2.ts`, mutual TLS with the member's certificate): the
 * store's per-request calls; and its watches (`etcd_watch.ts`).
 *
 * etcd3's calls go through grpc-js (channels, interceptors, protobuf.js
 * objects) on top of Deno's `node:http2`; a call costs the caller's thread
 * 0.6–1.0 ms of CPU, and its body leaves a tick after its headers: what a
 * lone add waits for and every add of a busy service pays. (Deno's `fetch` is
 * as cheap alone, but its connection runs only when the event loop is idle: a
 * busy service's calls waited ~11 ms each.) etcd3 stays for the rest
 * (membership, leases, maintenance).
 *
 * Only what the store needs is encoded: compares of a key's `mod_revision` or
 * `version` for equality, puts, deletes of one key and reads of one key or a
 * prefix.
 *
 * @module
 */
import { ETCD_TLS_SERVER_NAME, type MemberCertificate } from "./tls.ts";
import { connectH2, type H2Connection, H2Error } from "./_h2.ts";
import {
  EtcdCallError,
  prefixEnd,
  Reader,
  readHeader,
  readKeyValue,
  Writer,
} from "./_etcd_proto.ts";
import { type EtcdWatch, openWatch, type WatchHandlers, type WatchRequest } from "./etcd_watch.ts";

export { EtcdCallError };

/** A compare of a transaction: the key's `mod_revision` or `version` equals `value`. */
export interface KvCompare {
  key: string;
  target: "mod" | "version";
  value: number;
}

/** One operation of a transaction. */
export type KvOp =
  | { type: "put"; key: string; value: string }
  | { type: "delete"; key: string }
  /** Reads `key`, or every key starting with it when `prefix`. */
  | { type: "range"; key: string; prefix?: boolean; keysOnly?: boolean };

/** A key and its value as etcd holds them. */
export interface KvEntry {
  key: Uint8Array;
  value: Uint8Array;
  modRevision: number;
}

/** The answer to a transaction. */
export interface KvTxnResult {
  /** The store's revision after the transaction. */
  revision: number;
  /** Whether every compare held (the `success` operations ran). */
  succeeded: boolean;
  /** The keys each operation that ran read (empty for puts and deletes), in order. */
  responses: KvEntry[][];
}

/** The answer to a read. */
export interface KvRangeResult {
  /** The store's revision the read saw. */
  revision: number;
  kvs: KvEntry[];
}

/** etcd's KV calls the store makes per request (see {@linkcode createEtcdKv}). */
export interface EtcdKv {
  /** Runs `success` when every compare holds, else `failure`, atomically. */
  txn(
    request: { compare: KvCompare[]; success: KvOp[]; failure?: KvOp[] },
    signal?: AbortSignal,
  ): Promise<KvTxnResult>;
  /** Reads one key, or a prefix (linearizable). */
  range(
    op: Omit<Extract<KvOp, { type: "range" }>, "type">,
    signal?: AbortSignal,
  ): Promise<KvRangeResult>;
  /**
   * Watches every key under `request.prefix` ({@linkcode openWatch}), on a
   * connection of the watches' own: a call is never queued behind a burst of
   * events, nor a watch's stream held up by a connection being retired.
   */
  watch(request: WatchRequest, handlers: WatchHandlers, signal?: AbortSignal): Promise<EtcdWatch>;
  /**
   * Replaces the endpoints (an empty list changes nothing). A connection to
   * one no longer listed is closed (the calls' once their calls in flight
   * have ended; watches open again on a listed one); the next call goes to a
   * listed one.
   */
  setEndpoints(urls: readonly string[]): void;
  /** Closes the connections (watches end without a word). */
  close(): void;
}

/**
 * A KV client of the etcd member at `urls` (`https://…` with `tls`, else
 * `http://…`): one HTTP/2 connection ({@linkcode connectH2}), opened again on
 * the next call after it closes (and one for the watches). With several endpoints (members of one
 * cluster), a connection that fails moves the next call to the next
 * endpoint; a call that failed is not sent again (a write may have been
 * applied), unless etcd said it never ran it (GOAWAY, REFUSED_STREAM).
 *
 * @example
 * ```ts ignore
 * const kv = createEtcdKv("https://127.0.0.1:2379", etcd.tls);
 * const { revision } = await kv.range({ key: "a" });
 * kv.close();
 * ```
 */
export function createEtcdKv(urls: string | readonly string[], tls?: MemberCertificate): EtcdKv {
  let endpoints = typeof urls === "string" ? [urls] : [...urls];
  if (endpoints.length === 0) throw new RangeError("createEtcdKv needs at least one endpoint");
  let next = 0;
  /** The calls' connection and the watches', each opening or open (`open` once it is). */
  const calls: Slot = {};
  const watches: Slot = {};
  let closed = false;
  /**
   * The open connection of `slot`, or a new one to the next endpoint. Checked
   * and replaced in one turn, so calls that arrive together share one new
   * connection.
   */
  const connected = async (slot: Slot): Promise<{ conn: H2Connection; url: string }> => {
    if (closed) throw new EtcdCallError(1, "the etcd KV client is closed");
    let current = slot.connection;
    if (!current || current.open?.closed) {
      const url = new URL(endpoints[next % endpoints.length]);
      const secure = url.protocol === "https:";
      if (secure && !tls) throw new EtcdCallError(16, `${url.host} needs a member certificate`);
      const opening = connectH2({
        host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: Number(url.port || (secure ? 443 : 80)),
        // Member certificates name the member's IPs and this name (see tls.ts).
        tls: secure
          ? { ca: tls!.ca, cert: tls!.cert, key: tls!.key, servername: ETCD_TLS_SERVER_NAME }
          : undefined,
      });
      const entry: NonNullable<Slot["connection"]> = { url: url.href, opening };
      opening.then((conn) => {
        entry.open = conn;
        // Closed or replaced while it opened: nobody will use it.
        if (closed || slot.connection !== entry) conn.close();
      }, () => {});
      slot.connection = current = entry;
    }
    try {
      return { conn: await current.opening, url: current.url };
    } catch (err) {
      if (slot.connection === current) {
        slot.connection = undefined;
        next++;
      }
      const host = new URL(current.url).host;
      throw new EtcdCallError(14, `cannot reach etcd at ${host}: ${(err as Error).message}`);
    }
  };
  /** Calls `method` with the framed request `message` ({@linkcode Writer.frame}). */
  const call = async (method: string, message: Uint8Array, signal?: AbortSignal) => {
    for (let attempt = 0;; attempt++) {
      signal?.throwIfAborted();
      const { conn, url } = await connected(calls);
      let res;
      try {
        res = await conn.request(
          [
            [":method", "POST"],
            [":scheme", url.startsWith("https:") ? "https" : "http"],
            [":path", `/etcdserverpb.KV/${method}`],
            [":authority", new URL(url).host],
            ["content-type", "application/grpc"],
            ["te", "trailers"],
          ],
          message,
          signal,
        );
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        // Never processed by etcd: safe to send once more, on a new connection.
        if (err instanceof H2Error && err.unprocessed && attempt === 0) continue;
        if (conn.closed && calls.connection?.open === conn) next++;
        throw new EtcdCallError(14, `etcd's stream failed: ${(err as Error).message}`);
      }
      const status = res.headers.get("grpc-status");
      if (status !== "0") {
        // etcd answers an error with headers only ("trailers-only"): status and message.
        const detail = res.headers.get("grpc-message");
        throw new EtcdCallError(
          Number(status ?? 2),
          detail === undefined ? "no status in etcd's answer" : decodeURIComponent(detail),
        );
      }
      return unframe(res.body);
    }
  };
  return {
    async txn({ compare, success, failure = [] }, signal) {
      const w = new Writer();
      for (const c of compare) w.message(1, () => writeCompare(w, c));
      for (const op of success) w.message(2, () => writeOp(w, op));
      for (const op of failure) w.message(3, () => writeOp(w, op));
      return readTxnResponse(new Reader(await call("Txn", w.frame(), signal)));
    },
    async range(op, signal) {
      const w = new Writer();
      writeRange(w, { type: "range", ...op });
      return readRangeResponse(new Reader(await call("Range", w.frame(), signal)));
    },
    watch(request, handlers, signal) {
      return openWatch(() => connected(watches), request, handlers, signal);
    },
    setEndpoints(list) {
      if (list.length === 0) return;
      endpoints = [...list];
      next = 0;
      for (const slot of [calls, watches]) {
        const old = slot.connection;
        if (!old || endpoints.some((e) => new URL(e).href === old.url)) continue;
        slot.connection = undefined;
        // Calls in flight on it finish first: a write sent there is not abandoned. Watches
        // would never finish: they open again elsewhere.
        old.opening.then((conn) => slot === calls ? conn.drain() : conn.close(), () => {});
      }
    },
    close: () => {
      closed = true;
      for (const slot of [calls, watches]) {
        slot.connection?.opening.then((conn) => conn.close(), () => {});
        slot.connection = undefined;
      }
    },
  };
}

/** A connection in use, opening or open (`open` once it is). */
interface Slot {
  connection?: { url: string; opening: Promise<H2Connection>; open?: H2Connection };
}

// --- gRPC framing -------------------------------------------------------------------------

function unframe(body: Uint8Array): Uint8Array {
  if (body.length < 5) throw new EtcdCallError(2, "etcd's answer has no message");
  const length = new DataView(body.buffer, body.byteOffset).getUint32(1);
  if (body[0] !== 0 || body.length !== 5 + length) {
    throw new EtcdCallError(2, "etcd's answer is not one uncompressed message");
  }
  return body.subarray(5);
}

// --- protobuf (etcd's rpc.proto and kv.proto) ---------------------------------------------

const encoder = new TextEncoder();

function writeCompare(w: Writer, c: KvCompare): void {
  // result EQUAL is 0 (omitted); target VERSION = 0, MOD = 2; version = 4, mod_revision = 6.
  if (c.target === "mod") w.uint(2, 2);
  w.string(3, c.key);
  w.uint(c.target === "mod" ? 6 : 4, c.value);
}

function writeOp(w: Writer, op: KvOp): void {
  switch (op.type) {
    case "range":
      return w.message(1, () => writeRange(w, op));
    case "put":
      return w.message(2, () => {
        w.string(1, op.key);
        w.string(2, op.value);
      });
    case "delete":
      return w.message(3, () => w.string(1, op.key));
  }
}

function writeRange(w: Writer, op: Extract<KvOp, { type: "range" }>): void {
  if (!op.prefix) return w.string(1, op.key);
  const key = encoder.encode(op.key);
  w.bytes(1, key);
  w.bytes(2, prefixEnd(key));
  if (op.keysOnly) w.uint(8, 1);
}

/** RangeResponse: header (1), kvs (2). */
function readRangeResponse(r: Reader): KvRangeResult {
  const result: KvRangeResult = { revision: 0, kvs: [] };
  r.fields((field, wire) => {
    if (field === 1 && wire === 2) result.revision = readHeader(r.sub());
    else if (field === 2 && wire === 2) result.kvs.push(readKeyValue(r.sub()));
    else return false;
    return true;
  });
  return result;
}

/** TxnResponse: header (1), succeeded (2), responses (3) of ResponseOp. */
function readTxnResponse(r: Reader): KvTxnResult {
  const result: KvTxnResult = { revision: 0, succeeded: false, responses: [] };
  r.fields((field, wire) => {
    if (field === 1 && wire === 2) result.revision = readHeader(r.sub());
    else if (field === 2 && wire === 0) result.succeeded = r.varint() !== 0;
    else if (field === 3 && wire === 2) result.responses.push(readResponseOp(r.sub()));
    else return false;
    return true;
  });
  return result;
}

/** ResponseOp: the keys of its response_range (1); puts and deletes read none. */
function readResponseOp(r: Reader): KvEntry[] {
  let kvs: KvEntry[] = [];
  r.fields((field, wire) => {
    if (field !== 1 || wire !== 2) return false;
    kvs = readRangeResponse(r.sub()).kvs;
    return true;
  });
  return kvs;
}
