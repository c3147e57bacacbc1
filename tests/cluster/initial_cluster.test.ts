/** Unit tests: the initial-cluster string, etcd refusal detection, cluster flags. */
import assert from "node:assert/strict";
import {
  type EtcdMember,
  initialClusterString,
  isNotEnoughStartedMembers,
  memberWithPeerUrl,
} from "../../src/store/etcd_cluster.ts";
import { parseServiceArgs } from "../../src/service/options.ts";
import { UsageError } from "../../src/cli/errors.ts";

function m(id: string, name: string, ...peerUrls: string[]): EtcdMember {
  return { id, name, peerUrls, clientUrls: [], started: name !== "", isLearner: false };
}

Deno.test("initialClusterString names the joiner and keeps every member", () => {
  const members = [
    m("1", "10.0.0.1-2379-2380", "http://10.0.0.1:2380"),
    m("2", "", "http://10.0.0.2:2380"),
    m("3", "10.0.0.3-2379-2380", "http://10.0.0.3:2380", "http://10.0.1.3:2380"),
  ];
  assert.equal(
    initialClusterString(members, { name: "10.0.0.2-2379-2380", peerUrl: "http://10.0.0.2:2380" }),
    "10.0.0.1-2379-2380=http://10.0.0.1:2380,10.0.0.2-2379-2380=http://10.0.0.2:2380," +
      "10.0.0.3-2379-2380=http://10.0.0.3:2380,10.0.0.3-2379-2380=http://10.0.1.3:2380",
  );
});

Deno.test("initialClusterString leaves other unstarted members unnamed, as etcdctl does", () => {
  const members = [
    m("1", "a", "http://h:1"),
    m("2", "", "http://h:2"),
    m("3", "", "http://h:3"),
  ];
  assert.equal(
    initialClusterString(members, { name: "c", peerUrl: "http://h:3" }),
    "a=http://h:1,=http://h:2,c=http://h:3",
  );
});

Deno.test("initialClusterString refuses a joiner that is not a member", () => {
  assert.throws(
    () => initialClusterString([m("1", "a", "http://h:1")], { name: "b", peerUrl: "http://h:2" }),
    /no member has the peer URL http:\/\/h:2/,
  );
});

Deno.test("memberWithPeerUrl finds by any peer URL", () => {
  const b = m("2", "b", "http://h:2", "http://g:2");
  assert.equal(memberWithPeerUrl([m("1", "a", "http://h:1"), b], "http://g:2"), b);
  assert.equal(memberWithPeerUrl([b], "http://h:9"), undefined);
});

Deno.test("isNotEnoughStartedMembers recognises etcd's retryable refusals only", () => {
  assert.ok(isNotEnoughStartedMembers(
    new Error("etcdserver: re-configuration failed due to not enough started members"),
  ));
  assert.ok(isNotEnoughStartedMembers(new Error("14 UNAVAILABLE: etcdserver: unhealthy cluster")));
  assert.ok(!isNotEnoughStartedMembers(new Error("etcdserver: Peer URLs already exists")));
  assert.ok(!isNotEnoughStartedMembers("boom"));
});

Deno.test("cluster flags: -join-timeout, -leave-cluster, -snapshot", () => {
  const base = ["-local", "-new-etcd-cluster", "-ephemeral"];
  const joined = parseServiceArgs([...base, "-join-timeout", "7.5", "-learner-timeout", "5"], {});
  assert.ok(!joined.help);
  assert.equal(joined.config.joinTimeoutMs, 7500);
  assert.equal(joined.config.learnerTimeoutMs, 5000);
  assert.equal(joined.task, undefined);
  const leave = parseServiceArgs([...base, "-leave-cluster"], {});
  assert.ok(!leave.help);
  assert.deepEqual(leave.task, { kind: "leave" });
  const snap = parseServiceArgs([...base, "-snapshot=/tmp/b.db"], {});
  assert.ok(!snap.help);
  assert.deepEqual(snap.task, { kind: "snapshot", path: "/tmp/b.db" });
  for (
    const bad of [
      ["-join-timeout", "0"],
      ["-join-timeout", "soon"],
      ["-learner-timeout", "0"],
      ["-psk", "x", "-psk-file", "f"],
      ["-snapshot", ""],
      ["-snapshot", "x.db", "-leave-cluster"],
    ]
  ) {
    assert.throws(() => parseServiceArgs([...base, ...bad], {}), UsageError, bad.join(" "));
  }
});
