/**
 * One HTTP/2 client connection (RFC 9113) for unary calls and long-lived
 * streams, straight on a TCP or TLS socket: a request's HEADERS and DATA
 * leave in one write, the moment it is made.
 *
 * Why not `node:http2`: through Deno's emulation a call cost the caller's
 * thread more, its body left a tick after its headers (behind whatever else
 * the turn wrote), and a GOAWAY in some states aborts the process
 * (denoland/deno#36788). Measured from one process on one etcd: a Txn with
 * one put 1.57–2.25 ms here against 2.48–3.45 ms through `node:http2`. (Deno's
 * own `Deno.connectTls` was as fast, but its sockets cannot turn Nagle's
 * algorithm off.)
 *
 * What a gRPC client needs and no more: flow control both ways, SETTINGS,
 * PING, GOAWAY, RST_STREAM, CONTINUATION, padding, and the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS; no server push (disabled), no priorities.
 *
 * @module
 */
import net, { type Socket } from "node:net";
import nodeTls, { type TLSSocket } from "node:tls";
import { concatBytes } from "../_bytes.ts";
import { encodeHeaders, HpackDecoder } from "./_hpack.ts";

const Frame = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
const CANCEL = 0x8;

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const MAX_WINDOW = 2 ** 31 - 1;
/** The default window both ways before SETTINGS (RFC 9113, 6.9.2). */
const DEFAULT_WINDOW = 65_535;
/** Largest header block accepted from the server. */
const MAX_HEADER_BLOCK = 256 * 1024;
/** Frames from the server are at most 16 KiB: ours is the default SETTINGS_MAX_FRAME_SIZE. */
const MAX_FRAME_IN = 16_384;

/** How to reach the server. */
export interface H2Target {
  host: string;
  port: number;
  /**
   * TLS with these PEMs (mutual: `cert` and `key` are the client's), the
   * server's certificate checked for `servername`; plain TCP when absent.
   */
  tls?: { ca: string; cert: string; key: string; servername: string };
  /**
   * How many bytes the server may send ahead, per stream and on the
   * connection (default and most 2^31 - 1: a unary answer never waits for a
   * WINDOW_UPDATE). Each is topped up once half of it is used.
   */
  receiveWindow?: number;
}

/** A finished response: headers and trailers together, and the body. */
export interface H2Response {
  headers: Map<string, string>;
  body: Uint8Array;
}

/** Thrown when a call fails below HTTP (connection lost, stream reset, protocol error). */
export class H2Error extends Error {
  /**
   * @param message What happened.
   * @param unprocessed The server did not process the request (GOAWAY or REFUSED_STREAM):
   *   it is safe to send again.
   */
  constructor(message: string, readonly unprocessed = false) {
    super(message);
    this.name = "H2Error";
  }
}

/** A long-lived call ({@linkcode H2Connection.stream}): its request body is sent over time. */
export interface H2Stream {
  /** Sends `data` as part of the request body (after what the windows still hold back). */
  send(data: Uint8Array): void;
  /** Resets the stream (CANCEL); `done` rejects with `reason`. */
  cancel(reason: Error): void;
  /**
   * Resolves with the headers and trailers when the server ends the stream;
   * rejects when it fails (reset, GOAWAY, connection lost or closed) or is cancelled.
   */
  done: Promise<Map<string, string>>;
}

interface Call {
  id: number;
  headers: Map<string, string>;
  body: Uint8Array[];
  /** Request bytes not yet sent (flow control). */
  rest: Uint8Array;
  /** Whether the request ends with `rest` (END_STREAM on its last frame): unary calls. */
  ends: boolean;
  sendWindow: number;
  /** Bytes received since the stream's window was last topped up. */
  received: number;
  /** A stream's receiver of each DATA payload (valid only during the call); unary calls keep them. */
  data?: (payload: Uint8Array) => void;
  resolve(response: H2Response): void;
  reject(error: Error): void;
}

/**
 * Opens a connection to `target`: TCP, TLS with ALPN `h2` when
 * `target.tls`, then the client preface.
 *
 * @example
 * ```ts ignore
 * const conn = await connectH2({ host: "127.0.0.1", port: 2379 });
 * const res = await conn.request([[":path", "/etcdserverpb.KV/Range"], ...], body);
 * conn.close();
 * ```
 */
export async function connectH2(target: H2Target): Promise<H2Connection> {
  const { host, port, tls, receiveWindow = MAX_WINDOW } = target;
  if (!(Number.isInteger(receiveWindow) && receiveWindow >= 1 && receiveWindow <= MAX_WINDOW)) {
    throw new RangeError(`receiveWindow must be an integer in 1..2^31-1, got ${receiveWindow}`);
  }
  const socket = tls
    ? nodeTls.connect({ host, port, ...tls, ALPNProtocols: ["h2"] })
    : net.connect({ host, port });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once(tls ? "secureConnect" : "connect", resolve);
      socket.once("error", reject);
    });
    if (tls && (socket as TLSSocket).alpnProtocol !== "h2") {
      throw new H2Error(`${host}:${port} did not agree to HTTP/2`);
    }
  } catch (err) {
    socket.destroy();
    throw err;
  }
  // Every write is a whole request or a reply the server waits for: none may wait for an ACK.
  socket.setNoDelay(true);
  return new H2Connection(socket, receiveWindow);
}

/** An open HTTP/2 connection; see {@linkcode connectH2}. */
export class H2Connection {
  readonly #socket: Socket;
  readonly #hpack = new HpackDecoder();
  readonly #calls = new Map<number, Call>();
  /** Requests waiting for the server's limit of concurrent streams. */
  readonly #waiting: (() => void)[] = [];
  #nextId = 1;
  #maxStreams = Infinity;
  #maxFrame = 16_384;
  #initialWindow = DEFAULT_WINDOW;
  #sendWindow = DEFAULT_WINDOW;
  /** Each stream's receive window (our SETTINGS_INITIAL_WINDOW_SIZE). */
  readonly #streamWindow: number;
  /** The connection's receive window: never below the default, which SETTINGS cannot lower. */
  readonly #connectionWindow: number;
  /** Bytes received on the connection since its window was last topped up. */
  #received = 0;
  /** Set once the connection takes no new calls: why. */
  #closedBy: H2Error | undefined;
  /** Closes once the calls in flight have ended ({@linkcode H2Connection.drain}). */
  #draining = false;
  /** Set once the socket is closed or lost. */
  #socketGone = false;
  /** Bytes received and not yet parsed into frames. */
  #buf: Uint8Array = new Uint8Array(0);
  #preface = true;
  /** A header block being continued: its stream, flags and pieces. */
  #block: { id: number; endStream: boolean; pieces: Uint8Array[]; size: number } | undefined;

  /** Use {@linkcode connectH2}. */
  constructor(socket: Socket, receiveWindow: number) {
    this.#socket = socket;
    this.#streamWindow = receiveWindow;
    this.#connectionWindow = Math.max(receiveWindow, DEFAULT_WINDOW);
    const settings = new Uint8Array(12);
    const view = new DataView(settings.buffer);
    view.setUint16(0, 2); // SETTINGS_ENABLE_PUSH = 0
    view.setUint16(6, 4); // SETTINGS_INITIAL_WINDOW_SIZE
    view.setUint32(8, receiveWindow);
    const out = [PREFACE, frame(Frame.SETTINGS, 0, 0, settings)];
    if (this.#connectionWindow > DEFAULT_WINDOW) {
      out.push(windowUpdate(0, this.#connectionWindow - DEFAULT_WINDOW));
    }
    this.#send(out);
    socket.on("data", (chunk: Uint8Array) => {
      try {
        this.#receive(chunk);
      } catch (err) {
        this.#lost(err as Error);
      }
    });
    socket.on("error", (err: Error) => this.#lost(err));
    socket.on("close", () => this.#lost());
  }

  /** Whether new calls are refused (closed, lost, or told to go away). */
  get closed(): boolean {
    return this.#closedBy !== undefined;
  }

  /**
   * Sends one request with `body` and resolves with the whole response.
   * `headers` are sent as given (pseudo-headers first).
   */
  async request(
    headers: readonly (readonly [string, string])[],
    body: Uint8Array,
    signal?: AbortSignal,
  ): Promise<H2Response> {
    signal?.throwIfAborted();
    while (this.#calls.size >= this.#maxStreams && !this.#closedBy) {
      await this.#slot(signal);
    }
    // An abort while it waited: the call is not sent.
    signal?.throwIfAborted();
    const { promise, resolve, reject } = Promise.withResolvers<H2Response>();
    const call = this.#open(headers, body, true, resolve, reject);
    const onAbort = () => this.#cancel(call, signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await promise;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Opens a stream whose request body is sent over time ({@linkcode H2Stream.send})
   * and whose response body goes to `onData` as each DATA frame arrives (the
   * bytes are valid only during the call). The server's flow control is
   * kept both ways: what it may send is topped up as it is received.
   */
  async stream(
    headers: readonly (readonly [string, string])[],
    onData: (payload: Uint8Array) => void,
  ): Promise<H2Stream> {
    while (this.#calls.size >= this.#maxStreams && !this.#closedBy) await this.#slot();
    const { promise, resolve, reject } = Promise.withResolvers<H2Response>();
    const call = this.#open(headers, new Uint8Array(0), false, resolve, reject);
    call.data = onData;
    return {
      send: (data) => {
        if (!this.#calls.has(call.id)) return;
        call.rest = call.rest.length === 0 ? data : concatBytes([call.rest, data]);
        const out: Uint8Array[] = [];
        this.#pushData(call, out);
        if (out.length > 0) this.#send(out);
      },
      cancel: (reason) => this.#cancel(call, reason),
      done: promise.then((response) => response.headers),
    };
  }

  /**
   * Sends a request's HEADERS and what the windows allow of `body`, in one
   * write; `ends`: the request is all there (unary), else more body follows.
   */
  #open(
    headers: readonly (readonly [string, string])[],
    body: Uint8Array,
    ends: boolean,
    resolve: (response: H2Response) => void,
    reject: (error: Error) => void,
  ): Call {
    if (this.#closedBy) throw this.#closedBy;
    if (this.#nextId > MAX_WINDOW) {
      this.#shut(new H2Error("stream identifiers used up", true));
      throw this.#closedBy!;
    }
    const id = this.#nextId;
    this.#nextId += 2;
    const call: Call = {
      id,
      headers: new Map(),
      body: [],
      rest: body,
      ends,
      sendWindow: this.#initialWindow,
      received: 0,
      resolve,
      reject,
    };
    this.#calls.set(id, call);
    const block = encodeHeaders(headers);
    const out = [
      frame(Frame.HEADERS, END_HEADERS | (ends && body.length === 0 ? END_STREAM : 0), id, block),
    ];
    if (body.length > 0) this.#pushData(call, out);
    this.#send(out);
    return call;
  }

  /** Fails `call` with `reason` and resets its stream, unless it has ended. */
  #cancel(call: Call, reason: Error): void {
    if (!this.#calls.has(call.id)) return;
    this.#end(call, reason);
    this.#send([rstStream(call.id, CANCEL)]);
  }

  /** Waits until a stream may be free (the server's limit); rejects when `signal` aborts. */
  #slot(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const wake = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        this.#waiting.splice(this.#waiting.indexOf(wake), 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(wake);
    });
  }

  /** Takes no new calls, and closes once the calls in flight have ended. */
  drain(): void {
    this.#shut(new H2Error("the connection was retired", true));
    this.#draining = true;
    if (this.#calls.size === 0) this.close();
  }

  /** Closes the connection; calls in flight fail. */
  close(): void {
    if (this.#socketGone) return;
    this.#draining = false;
    this.#shut(new H2Error("the connection was closed"));
    this.#fail(this.#closedBy!, 0);
    this.#send([goAway(0)]);
    this.#socketGone = true;
    this.#socket.end();
  }

  /** Appends to `out` as much of `call`'s body as the windows allow. */
  #pushData(call: Call, out: Uint8Array[]): void {
    while (call.rest.length > 0) {
      const size = Math.min(call.rest.length, this.#maxFrame, call.sendWindow, this.#sendWindow);
      if (size <= 0) return;
      const last = call.ends && size === call.rest.length;
      out.push(frame(Frame.DATA, last ? END_STREAM : 0, call.id, call.rest.subarray(0, size)));
      call.rest = call.rest.subarray(size);
      call.sendWindow -= size;
      this.#sendWindow -= size;
    }
  }

  /** Writes frames, in one write. */
  #send(frames: Uint8Array[]): void {
    if (!this.#socketGone) this.#socket.write(concatBytes(frames));
  }

  #receive(chunk: Uint8Array): void {
    const buf = this.#buf.length === 0 ? chunk : concatBytes([this.#buf, chunk]);
    let at = 0;
    while (buf.length - at >= 9) {
      const length = (buf[at] << 16) | (buf[at + 1] << 8) | buf[at + 2];
      if (length > MAX_FRAME_IN) throw new H2Error(`a frame of ${length} bytes`);
      if (buf.length - at < 9 + length) break;
      const type = buf[at + 3];
      const flags = buf[at + 4];
      const id = ((buf[at + 5] & 0x7f) << 24 | buf[at + 6] << 16 | buf[at + 7] << 8 |
        buf[at + 8]) >>> 0;
      if (this.#preface && type !== Frame.SETTINGS) throw new H2Error("no SETTINGS first");
      this.#preface = false;
      this.#frame(type, flags, id, buf.subarray(at + 9, at + 9 + length));
      at += 9 + length;
    }
    // Kept pieces are copied: the socket may reuse its buffer.
    this.#buf = buf.slice(at);
  }

  #frame(type: number, flags: number, id: number, payload: Uint8Array): void {
    if (this.#block && type !== Frame.CONTINUATION) {
      throw new H2Error("a header block was interrupted");
    }
    switch (type) {
      case Frame.DATA: {
        const data = unpad(flags, payload);
        this.#received += payload.length;
        if (this.#received >= this.#connectionWindow / 2) {
          this.#send([windowUpdate(0, this.#received)]);
          this.#received = 0;
        }
        const call = this.#calls.get(id);
        if (!call) return;
        if (flags & END_STREAM) {
          if (call.data) call.data(data);
          else call.body.push(data.slice());
          return this.#finish(call);
        }
        // A stream that stays open needs its window back (a unary answer never fills it).
        call.received += payload.length;
        if (call.received >= this.#streamWindow / 2) {
          this.#send([windowUpdate(id, call.received)]);
          call.received = 0;
        }
        if (call.data) call.data(data);
        else call.body.push(data.slice());
        return;
      }
      case Frame.HEADERS: {
        let block = unpad(flags, payload);
        if (flags & PRIORITY) block = block.subarray(5);
        this.#block = { id, endStream: (flags & END_STREAM) !== 0, pieces: [], size: 0 };
        return this.#headerPiece(flags, block);
      }
      case Frame.CONTINUATION:
        if (!this.#block || this.#block.id !== id) throw new H2Error("a stray CONTINUATION");
        return this.#headerPiece(flags, payload);
      case Frame.RST_STREAM: {
        const call = this.#calls.get(id);
        const code = payload.length === 4
          ? new DataView(payload.buffer, payload.byteOffset).getUint32(0)
          : 0;
        // REFUSED_STREAM (7): the server did not process it.
        if (call) {
          this.#end(call, new H2Error(`the server reset the stream (code ${code})`, code === 7));
        }
        return;
      }
      case Frame.SETTINGS:
        if (flags & ACK) return;
        this.#settings(payload);
        this.#send([frame(Frame.SETTINGS, ACK, 0, new Uint8Array(0))]);
        return;
      case Frame.PING:
        if (!(flags & ACK)) this.#send([frame(Frame.PING, ACK, 0, payload.slice())]);
        return;
      case Frame.GOAWAY: {
        const view = new DataView(payload.buffer, payload.byteOffset);
        const last = view.getUint32(0) & 0x7fffffff;
        const code = view.getUint32(4);
        const reason = new H2Error(`the server said GOAWAY (code ${code})`, true);
        this.#shut(reason);
        // Streams above the last one the server processed never ran.
        this.#fail(reason, last);
        // A long-lived stream would hold the connection until the server cuts it: it
        // fails now, so that its caller can open it again elsewhere.
        for (const call of [...this.#calls.values()]) {
          if (call.data) this.#cancel(call, new H2Error(reason.message));
        }
        return;
      }
      case Frame.WINDOW_UPDATE: {
        const increment = new DataView(payload.buffer, payload.byteOffset).getUint32(0) &
          0x7fffffff;
        if (id === 0) this.#sendWindow += increment;
        else {
          const call = this.#calls.get(id);
          if (call) call.sendWindow += increment;
        }
        return this.#resume();
      }
      case Frame.PUSH_PROMISE:
        throw new H2Error("a PUSH_PROMISE, though push is disabled");
      default:
        return; // Unknown frame types are ignored (RFC 9113, 4.1).
    }
  }

  #headerPiece(flags: number, piece: Uint8Array): void {
    const block = this.#block!;
    block.pieces.push(piece.slice());
    block.size += piece.length;
    if (block.size > MAX_HEADER_BLOCK) throw new H2Error("a header block over 256 KiB");
    if (!(flags & END_HEADERS)) return;
    this.#block = undefined;
    // Decoded even for a call no longer waiting: the table must stay in step.
    const headers = this.#hpack.decode(concatBytes(block.pieces));
    const call = this.#calls.get(block.id);
    if (!call) return;
    for (const [name, value] of headers) call.headers.set(name, value);
    if (block.endStream) this.#finish(call);
  }

  #settings(payload: Uint8Array): void {
    const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
    for (let at = 0; at + 6 <= payload.length; at += 6) {
      const value = view.getUint32(at + 2);
      switch (view.getUint16(at)) {
        case 3: // SETTINGS_MAX_CONCURRENT_STREAMS: waiting calls look again
          this.#maxStreams = value;
          for (const wake of this.#waiting.splice(0)) wake();
          break;
        case 4: { // SETTINGS_INITIAL_WINDOW_SIZE: applies to open streams too
          const delta = value - this.#initialWindow;
          this.#initialWindow = value;
          for (const call of this.#calls.values()) call.sendWindow += delta;
          break;
        }
        case 5: // SETTINGS_MAX_FRAME_SIZE
          this.#maxFrame = value;
          break;
      }
    }
    this.#resume();
  }

  /** Sends what the windows now allow of bodies waiting for them. */
  #resume(): void {
    const out: Uint8Array[] = [];
    for (const call of this.#calls.values()) {
      if (call.rest.length > 0) this.#pushData(call, out);
    }
    if (out.length > 0) this.#send(out);
  }

  #finish(call: Call): void {
    this.#calls.delete(call.id);
    call.resolve({ headers: call.headers, body: concatBytes(call.body) });
    this.#next();
  }

  #end(call: Call, error: Error): void {
    this.#calls.delete(call.id);
    call.reject(error);
    this.#next();
  }

  #next(): void {
    this.#waiting.shift()?.();
    if (this.#draining && this.#calls.size === 0) this.close();
  }

  /** Takes no new calls from now on. */
  #shut(reason: H2Error): void {
    this.#closedBy ??= reason;
    for (const wake of this.#waiting.splice(0)) wake();
  }

  /** Fails the calls on streams above `after`. */
  #fail(error: Error, after: number): void {
    for (const call of [...this.#calls.values()]) {
      if (call.id > after) this.#end(call, error);
    }
  }

  /** The connection is gone (read end, write failure or protocol error): everything fails. */
  #lost(error?: Error): void {
    if (this.#socketGone) return;
    this.#socketGone = true;
    const reason = error instanceof H2Error
      ? error
      : new H2Error(`the connection was lost${error ? `: ${error.message}` : ""}`);
    this.#shut(reason);
    this.#fail(reason, 0);
    this.#socket.destroy();
  }
}

/** One HTTP/2 frame: its 9-byte header, then `payload` (exported for tests' own peers). */
export function frame(type: number, flags: number, id: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out[0] = payload.length >>> 16;
  out[1] = (payload.length >>> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, id);
  out.set(payload, 9);
  return out;
}

function windowUpdate(id: number, increment: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, increment);
  return frame(Frame.WINDOW_UPDATE, 0, id, payload);
}

function rstStream(id: number, code: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, code);
  return frame(Frame.RST_STREAM, 0, id, payload);
}

function goAway(code: number): Uint8Array {
  const payload = new Uint8Array(8);
  new DataView(payload.buffer).setUint32(4, code);
  return frame(Frame.GOAWAY, 0, 0, payload);
}

/** A DATA or HEADERS payload without its padding. */
function unpad(flags: number, payload: Uint8Array): Uint8Array {
  if (!(flags & PADDED)) return payload;
  const pad = payload[0];
  if (pad >= payload.length) throw new H2Error("padding longer than its frame");
  return payload.subarray(1, payload.length - pad);
}
