/**
 * Names that could pass for another's are refused by the service, whatever
 * the client: invisible characters always, a look-alike of a name another
 * peer owns (Cyrillic or Greek letters, case, fullwidth, `rn` for `m`).
 */
import assert from "node:assert/strict";
import { sampleInfo, startService } from "../_registry.ts";
import { addPayload, wirePeer } from "./_wire.ts";
import { etcdctl } from "../cluster/_cluster.ts";
import { DEFAULT_KEY_PREFIX } from "../../src/store/registry_store.ts";

const PSK = "look-alikes";

Deno.test("the service refuses invisible characters and look-alikes of another's name", async () => {
  const service = await startService({ psk: PSK });
  const [owner, other] = await Promise.all([
    wirePeer(PSK, service.addr),
    wirePeer(PSK, service.addr),
  ]);
  try {
    const add = (peer: typeof owner, name: string, n = 1) =>
      peer.ask("/add/0.1", addPayload(name, sampleInfo(n)));
    assert.match(await add(owner, "paypal"), /^Added /);
    assert.match(await add(owner, "modem-api"), /^Added /);

    for (
      const [name, reason] of [
        ["p\u0430yp\u0430l", /looks like "paypal"/], // Cyrillic а
        ["\u0440\u0430\u0443\u0440\u0430l", /looks like "paypal"/], // Cyrillic р, а, у
        ["PAYPAL", /looks like "paypal"/],
        ["PayPaI", /looks like "paypal"/], // capital I for l
        ["\uff50\uff41\uff59\uff50\uff41\uff4c", /looks like "paypal"/], // fullwidth
        ["\u03c1aypal", /looks like "paypal"/], // Greek ρ
        ["rnodem\u2010api", /looks like "modem-api"/], // rn for m, a hyphen for -
        ["pay\u200Dpal", /format character U\+200D/], // zero-width joiner
        ["\u202Elapyap", /format character U\+202E/], // right-to-left override
        ["pay\u3164pal", /invisible character U\+3164/], // Hangul filler
      ] as const
    ) {
      const answer = await add(other, name, 2);
      assert.match(answer, /^Error: /, `${JSON.stringify(name)} was stored: ${answer}`);
      assert.match(answer, reason, JSON.stringify(name));
    }
    // Nothing of the refused names was stored.
    const listed = JSON.parse(await other.ask("/list/0.1", ""));
    assert.deepEqual(Object.keys(listed.NameToInfoStr).sort(), ["modem-api", "paypal"]);
    await service.waitForLog(
      /WARN audit peer=\S+ protocol=\/add\/0.1 name="p\u0430yp\u0430l" outcome=refused .*looks like \\"paypal\\" \(owned by /,
    );

    // The owner may have both; a distinct name is anyone's; a deleted name keeps its owner.
    assert.match(await add(owner, "PayPal"), /^Added /);
    assert.match(await add(other, "paypal-status"), /^Added /);
    assert.match(await owner.ask("/delete/0.1", "paypal"), /^Deleted 1/);
    assert.match(await add(other, "p\u0430ypal", 2), /^Error: .*looks like "(paypal|PayPal)"/);
  } finally {
    await Promise.all([owner.node.stop(), other.node.stop()]);
    await service.stop();
  }
});

Deno.test("a name with an invisible character stored before the rule stays readable and deletable", async () => {
  const service = await startService({ psk: PSK });
  const peer = await wirePeer(PSK, service.addr);
  try {
    // An emoji as keyboards type it: U+2764 and the variation selector U+FE0F.
    const name = "\u2764\ufe0f-status";
    const info = JSON.stringify(sampleInfo(1));
    await etcdctl(service, ["put", `${DEFAULT_KEY_PREFIX}${name}`, info]);
    // The watch brings it into the service's view.
    let got = "";
    for (let i = 0; i < 50 && !/"LookupOk":true/.test(got); i++) {
      got = await peer.ask("/get/0.1", name);
      if (!/"LookupOk":true/.test(got)) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(JSON.parse(got).InfoStr, info);
    assert.equal(JSON.parse(await peer.ask("/history/0.1", name)).Versions.length, 0);
    assert.match(await peer.ask("/delete/0.1", name), /^Deleted 1/);
    // A new name with one is refused.
    assert.match(
      await peer.ask("/add/0.1", addPayload("\u2665\ufe0f-status", sampleInfo(1))),
      /^Error: .*invisible character U\+FE0F/,
    );
  } finally {
    await peer.node.stop();
    await service.stop();
  }
});
