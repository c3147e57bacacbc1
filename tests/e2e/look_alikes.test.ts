/**
 * Names that could pass for another's are refused by the service, whatever
 * the client: invisible characters always, a look-alike of a name another
 * peer owns (Cyrillic or Greek letters, case, fullwidth, `rn` for `m`).
 */
import assert from "node:assert/strict";
import { sampleInfo, startService } from "../_registry.ts";
import { addPayload, wirePeer } from "./_wire.ts";

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
