/**
 * `registry-cli members`: list the registry's instances with their role and
 * the etcd member each runs (`/members/0.1`).
 *
 * @module
 */
import type { Command } from "../command.ts";

/** The `members` command. */
export const membersCommand: Command = {
  name: "members",
  args: [],
  summary: "list the registry-service instances, their role and etcd member",
  description: "Prints one line per registry-service instance:\n" +
    "<peer id>  <role>  <etcd member or ->\n" +
    "role is voter (a voting etcd member), learner (a member catching up) or client\n" +
    "(no etcd member of its own; reaches the voters over mutual TLS). Instances register\n" +
    "themselves in etcd under a lease, so one that stopped is gone within ~10 s.\n" +
    'With -json, [{"PeerId", "Role", "Member", "MemberName", "Addrs", "VoterEligible",\n' +
    '"PeerUrl"}, …].',
  flags: {},
  async run(_args, _flags, ctx) {
    const signal = AbortSignal.timeout(ctx.timeoutMs);
    const instances = await (await ctx.client(signal)).members(signal);
    if (ctx.json) {
      ctx.io.stdout(JSON.stringify(instances));
      return 0;
    }
    ctx.io.stdout(
      instances.map((r) =>
        `${r.PeerId}  ${r.Role.padEnd(7)}  ${r.Member || "-"}` +
        (r.VoterEligible ? "" : "  (not voter-eligible)")
      ).join("\n"),
    );
    return 0;
  },
};
