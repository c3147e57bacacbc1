/**
 * `registry-cli history <service-name>`: who changed a service, when, and
 * to what; newest first.
 *
 * @module
 */
import { type Command, serviceNameArg } from "../command.ts";
import type { HistoryVersion } from "../../protocol/messages.ts";
import { parseServiceInfo } from "../../protocol/service_info.ts";
import { escapeInvisible, quoteName } from "../quote.ts";

/** The `history` command. */
export const historyCommand: Command = {
  name: "history",
  args: ["<service-name>"],
  summary: "show who changed a service, when and to what",
  description: "Prints a table: revision, op (put or delete), time, the writer's peer id and\n" +
    "the image and content hash written (digests shortened). With -json, the\n" +
    'registry-service\'s answer: {"Versions": [{"Revision", "Op", "InfoStr", "Peer", "Time"}, …]}.\n' +
    'A revision is what "registry-cli rollback -to" takes.',
  flags: {},
  async run([name], _flags, ctx) {
    serviceNameArg(name, "history");
    const signal = AbortSignal.timeout(ctx.timeoutMs);
    const versions = await (await ctx.client(signal)).history(name, signal);
    if (ctx.json) {
      ctx.io.stdout(JSON.stringify({ Versions: versions }));
    } else if (versions.length === 0) {
      ctx.io.stdout(`No recorded versions of ${quoteName(name)}`);
    } else {
      ctx.io.stdout(historyTable(versions));
    }
    return 0;
  },
};

/**
 * Renders versions as an aligned table, one line each; every cell is made
 * safe for one line (a service could answer anything).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyTable } from "./history.ts";
 * const table = historyTable([
 *   { Revision: 7, Op: "delete", InfoStr: "", Peer: "12D3KooWB", Time: "2026-01-02T03:04:05Z" },
 * ]);
 * assert.equal(table.split("\n")[1].trimEnd(), "7         delete  2026-01-02T03:04:05Z  12D3KooWB  (deleted)");
 * ```
 *
 * @example Images of any length: the CONTENT column stays aligned
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyTable } from "./history.ts";
 * const put = (Revision: number, DockerHash: string) => ({
 *   Revision, Op: "put" as const, Peer: "12D3KooWB", Time: "2026-01-02T03:04:05Z",
 *   InfoStr: JSON.stringify({
 *     ContentHash: "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", DockerHash,
 *     NetworkSoftReq: { RTT: 1 }, NetworkHardReq: { RTT: 1 }, CpuReq: 1, MemoryReq: 1,
 *   }),
 * });
 * const lines = historyTable([put(9, "r/a@sha256:" + "1".repeat(64)), put(8, "r/longer@sha256:" + "2".repeat(64))])
 *   .split("\n");
 * const column = lines[0].indexOf("CONTENT");
 * assert.ok(lines.slice(1).every((line) => line.indexOf("Qm") === column));
 * ```
 */
export function historyTable(versions: readonly HistoryVersion[]): string {
  const rows = [
    ["REVISION", "OP", "TIME", "PEER", "IMAGE", "CONTENT"],
    ...versions.map((v) =>
      [String(v.Revision), v.Op, v.Time, v.Peer, ...summary(v)].map(escapeInvisible)
    ),
  ];
  // A deleted or invalid version has no CONTENT cell: its row is one shorter.
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)));
  return rows.map((row) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  ")
  ).join("\n");
}

/** What a version wrote, in short: image (digest cut to 12 hex digits) and content hash. */
function summary(version: HistoryVersion): string[] {
  if (version.Op === "delete") return ["(deleted)"];
  try {
    const info = parseServiceInfo(version.InfoStr);
    const image = info.DockerHash.replace(/@sha256:([0-9a-f]{12})[0-9a-f]{52}$/, "@sha256:$1…");
    const content = info.ContentHash.length > 16
      ? `${info.ContentHash.slice(0, 16)}…`
      : info.ContentHash;
    return [image, content];
  } catch (err) {
    return [`(invalid: ${(err as Error).message})`];
  }
}
