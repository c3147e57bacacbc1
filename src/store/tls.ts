/**
 * etcd's mutual TLS, keyed by the network's PSK: a CA whose key is derived
 * from the PSK (so every PSK holder can issue a member certificate and
 * nobody else can), and per-member certificates kept in the data directory.
 *
 * @module
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createECDH } from "node:crypto";
import { pskFromPassphrase } from "../p2p/psk.ts";

const ECDSA = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING = { name: "ECDSA", hash: "SHA-256" } as const;
// Changing the label (or the scheme) gives every network a new CA: never change it silently.
const CA_KEY_LABEL = "physarum/registry etcd CA key v1";
const CA_NAME = "CN=physarum registry etcd CA";
// P-256 group order: the derived scalar must lie in [1, n-1].
/**
 * A DNS name in every member certificate. etcd's client (grpc-js) must send
 * a TLS server name and an IP address is not allowed as one, so clients
 * name this one instead: the CA, not the name, is what proves membership.
 */
export const ETCD_TLS_SERVER_NAME = "etcd.registry.physarum";
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** The network's certificate authority. */
export interface NetworkCa {
  /** The CA's key pair (the private key signs member certificates). */
  readonly keys: CryptoKeyPair;
  /** The self-signed CA certificate. */
  readonly certificate: x509.X509Certificate;
  /** The CA certificate in PEM (what etcd's trusted-CA flags take). */
  readonly pem: string;
}

/** A member certificate and its key, in PEM. */
export interface MemberCertificate {
  /** The CA certificate. */
  readonly ca: string;
  /** The member's certificate. */
  readonly cert: string;
  /** The member's private key (PKCS #8). */
  readonly key: string;
}

/** Where a member's TLS files live, with their contents. */
export interface EtcdTls extends MemberCertificate {
  /** Path of the CA certificate (`etcdctl --cacert`). */
  readonly caFile: string;
  /** Path of the member certificate (`etcdctl --cert`). */
  readonly certFile: string;
  /** Path of the member key, mode 0600 (`etcdctl --key`). */
  readonly keyFile: string;
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

function bigintBytes(n: bigint): Uint8Array {
  return Uint8Array.from(n.toString(16).padStart(64, "0").match(/../g)!, (h) => parseInt(h, 16));
}

/**
 * The CA of the network with this passphrase. Its key is an ECDSA P-256
 * scalar from HKDF-SHA256 of the PSK bytes with a fixed label, so every
 * holder of the passphrase derives the same CA key; its certificate has
 * fixed contents (subject, serial, validity).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { networkCa } from "./tls.ts";
 * const a = await networkCa("secret");
 * const b = await networkCa("secret");
 * assert.equal(a.certificate.publicKey.toString("base64"), b.certificate.publicKey.toString("base64"));
 * assert.notEqual(
 *   (await networkCa("other")).certificate.publicKey.toString("base64"),
 *   a.certificate.publicKey.toString("base64"),
 * );
 * ```
 */
export async function networkCa(passphrase: string): Promise<NetworkCa> {
  if (passphrase === "") throw new RangeError("an empty passphrase has no CA (its key is random)");
  const ikm = await crypto.subtle.importKey(
    "raw",
    pskFromPassphrase(passphrase) as Uint8Array<ArrayBuffer>,
    "HKDF",
    false,
    ["deriveBits"],
  );
  const bits = new Uint8Array(
    await crypto.subtle.deriveBits(
      {
        name: "HKDF",
        hash: "SHA-256",
        salt: new Uint8Array(0),
        info: new TextEncoder().encode(CA_KEY_LABEL),
      },
      ikm,
      384,
    ),
  );
  // 48 bytes reduced modulo n-1 (plus one) give a uniform scalar in [1, n-1] (FIPS 186-4 B.4.1).
  const scalar = BigInt(`0x${Array.from(bits, (b) => b.toString(16).padStart(2, "0")).join("")}`) %
      (P256_ORDER - 1n) + 1n;
  const d = bigintBytes(scalar);
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(d);
  const point = new Uint8Array(ecdh.getPublicKey());
  const jwk = {
    kty: "EC",
    crv: "P-256",
    x: base64url(point.subarray(1, 33)),
    y: base64url(point.subarray(33, 65)),
  };
  const keys = {
    privateKey: await crypto.subtle.importKey("jwk", { ...jwk, d: base64url(d) }, ECDSA, true, [
      "sign",
    ]),
    publicKey: await crypto.subtle.importKey("jwk", jwk, ECDSA, true, ["verify"]),
  };
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: CA_NAME,
    notBefore: new Date("2025-01-01T00:00:00Z"),
    notAfter: new Date("2125-01-01T00:00:00Z"),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keys, certificate, pem: certificate.toString("pem") };
}

/**
 * Issues a certificate for an etcd member (or an etcd client): a fresh
 * P-256 key, the given IP addresses and {@linkcode ETCD_TLS_SERVER_NAME}
 * as subject alternative names, usable
 * for both TLS server and client authentication, valid for ten years.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { X509Certificate } from "node:crypto";
 * import { issueMemberCertificate, networkCa } from "./tls.ts";
 * const ca = await networkCa("secret");
 * const member = await issueMemberCertificate(ca, { name: "127.0.0.1-2379-2380", ips: ["127.0.0.1"] });
 * assert.ok(new X509Certificate(member.cert).verify(new X509Certificate(ca.pem).publicKey));
 * assert.match(member.key, /^-----BEGIN PRIVATE KEY-----/);
 * ```
 */
export async function issueMemberCertificate(
  ca: NetworkCa,
  member: { name: string; ips: readonly string[] },
): Promise<MemberCertificate> {
  const keys = await crypto.subtle.generateKey(ECDSA, true, ["sign", "verify"]);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: Array.from(crypto.getRandomValues(new Uint8Array(16)), (b, i) =>
      // A positive serial: the top bit of the first byte clear.
      (i === 0 ? b & 0x7f : b).toString(16).padStart(2, "0")).join(""),
    subject: `CN=${member.name}`,
    issuer: ca.certificate.subject,
    notBefore: new Date(now - 60 * 60 * 1000),
    notAfter: new Date(now + 10 * 365 * 24 * 60 * 60 * 1000),
    signingKey: ca.keys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(
        [
          ...member.ips.map((ip) => ({ type: "ip" as const, value: ip })),
          { type: "dns", value: ETCD_TLS_SERVER_NAME },
        ],
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    ca: ca.pem,
    cert: certificate.toString("pem"),
    key: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
  };
}

/**
 * The TLS file paths of a member whose data directory is `dataDir`:
 * `<dataDir>/tls/{ca.crt,member.crt,member.key}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { etcdTlsPaths } from "./tls.ts";
 * assert.equal(etcdTlsPaths("/var/lib/registry/etcd").keyFile, "/var/lib/registry/etcd/tls/member.key");
 * ```
 */
export function etcdTlsPaths(
  dataDir: string,
): { dir: string; caFile: string; certFile: string; keyFile: string } {
  const dir = `${dataDir}/tls`;
  return {
    dir,
    caFile: `${dir}/ca.crt`,
    certFile: `${dir}/member.crt`,
    keyFile: `${dir}/member.key`,
  };
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

async function isUsable(ca: NetworkCa, cert: string, ip: string): Promise<boolean> {
  try {
    const parsed = new x509.X509Certificate(cert);
    const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
    const monthAhead = new Date(Date.now() + 30 * 24 * 60 * 60 * 1000);
    return parsed.notAfter > monthAhead &&
      (san?.names.items.some((n) => n.type === "ip" && n.value === ip) ?? false) &&
      (san?.names.items.some((n) => n.type === "dns" && n.value === ETCD_TLS_SERVER_NAME) ??
        false) &&
      await parsed.verify({ publicKey: ca.certificate.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

async function writePrivate(path: string, text: string): Promise<void> {
  // Written aside and renamed, so a crash never leaves half a key behind.
  const part = `${path}.part`;
  await Deno.writeTextFile(part, text, { mode: 0o600 });
  await Deno.chmod(part, 0o600);
  await Deno.rename(part, path);
}

/**
 * The member's TLS files in `<dataDir>/tls` (directory 0700, files 0600),
 * issued when missing and issued again when the certificate does not fit:
 * signed by another CA (the PSK changed), without `ip` among its names, or
 * expiring within a month.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ensureEtcdTls } from "./tls.ts";
 * const dir = await Deno.makeTempDir();
 * const tls = await ensureEtcdTls("secret", { dataDir: dir, name: "m", ip: "127.0.0.1" });
 * assert.equal((await Deno.stat(tls.keyFile)).mode! & 0o777, 0o600);
 * assert.equal((await ensureEtcdTls("secret", { dataDir: dir, name: "m", ip: "127.0.0.1" })).cert, tls.cert);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function ensureEtcdTls(
  passphrase: string,
  member: { dataDir: string; name: string; ip: string },
): Promise<EtcdTls> {
  const paths = etcdTlsPaths(member.dataDir);
  const ca = await networkCa(passphrase);
  const [caText, cert, key] = await Promise.all(
    [paths.caFile, paths.certFile, paths.keyFile].map(readIfExists),
  );
  if (caText !== undefined && cert !== undefined && key !== undefined) {
    if (await isUsable(ca, cert, member.ip)) return { ...paths, ca: caText, cert, key };
  }
  const issued = await issueMemberCertificate(ca, { name: member.name, ips: [member.ip] });
  await Deno.mkdir(paths.dir, { recursive: true, mode: 0o700 });
  await Deno.chmod(paths.dir, 0o700);
  await writePrivate(paths.keyFile, issued.key);
  await writePrivate(paths.certFile, issued.cert);
  await writePrivate(paths.caFile, issued.ca);
  return { ...paths, ...issued };
}
