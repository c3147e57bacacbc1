/**
 * `registry-cli whoami`: print the CLI's peer id, what an admin gives the
 * service with `-admin` and what `chown` takes.
 *
 * @module
 */
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import type { Command } from "../command.ts";

/** The `whoami` command. */
export const whoamiCommand: Command = {
  name: "whoami",
  args: [],
  summary: "print this CLI's peer id",
  description: "Prints the peer id of the key in -keyfile (default\n" +
    "$XDG_CONFIG_HOME/physarum/registry-cli.key, else ~/.config/physarum/registry-cli.key),\n" +
    'creating the key on first use. With -json, {"peerId": <id>, "keyFile": <path>}.\n' +
    "Needs no network.",
  flags: {},
  async run(_args, _flags, ctx) {
    const identity = await ctx.identity();
    const peerId = peerIdFromPrivateKey(identity.key).toString();
    if (identity.source === "created") {
      ctx.io.stderr(`registry-cli: created a new key in ${identity.path}`);
    }
    ctx.io.stdout(ctx.json ? JSON.stringify({ peerId, keyFile: identity.path }) : peerId);
    return 0;
  },
};
