import assert from "node:assert/strict";
import { createProgress } from "../../src/cli/progress.ts";

function recording(isTerminal: boolean, quiet = false) {
  let clock = 0;
  const sink = { text: "", isTerminal, write: (t: string) => (sink.text += t) };
  const progress = createProgress(sink, { quiet, statusIntervalMs: 2_000, now: () => clock });
  return { sink, progress, tick: (ms: number) => (clock += ms) };
}

Deno.test("progress: output cut anywhere comes out as the same whole lines", () => {
  const text = "Step 1/3 : FROM busybox\n ---> 1234\nStep 2/3 : COPY . .\n";
  for (let cut = 1; cut < text.length; cut++) {
    const { sink, progress } = recording(false);
    progress.output(text.slice(0, cut));
    progress.output(text.slice(cut));
    progress.done();
    assert.equal(sink.text, text, `cut at ${cut}`);
  }
});

Deno.test("progress: \\r updates stay on one line on a terminal, become plain lines elsewhere", () => {
  // As git writes it: one update at a time, each ended by \r, the last by \n.
  const git = [
    "Receiving objects:  10% (1/10)\r",
    "Receiving objects:  50% (5/10)\r",
    "Receiving objects: 100% (10/10), done.\n",
  ];
  const terminal = recording(true);
  for (const chunk of git) {
    terminal.progress.output(chunk);
    terminal.tick(200);
  }
  assert.equal(
    terminal.sink.text,
    "\r\x1b[KReceiving objects:  10% (1/10)\r\x1b[KReceiving objects:  50% (5/10)" +
      "\r\x1b[KReceiving objects: 100% (10/10), done.\n",
  );
  assert.equal(terminal.sink.text.split("\n").length, 2, "one line on screen");

  const plain = recording(false);
  for (const chunk of git) {
    plain.progress.output(chunk);
    plain.tick(200);
  }
  // The first update, then (2 s not passed) only the final line.
  assert.equal(
    plain.sink.text,
    "Receiving objects:  10% (1/10)\nReceiving objects: 100% (10/10), done.\n",
  );
  assert.ok(!plain.sink.text.includes("\r"));
});

Deno.test("progress: off a terminal, a status is printed at most every interval, the last at the end", () => {
  const { sink, progress, tick } = recording(false);
  progress.status("Hashing: 1 MB");
  tick(500);
  progress.status("Hashing: 2 MB"); // too soon: held
  tick(2_000);
  progress.status("Hashing: 3 MB");
  tick(100);
  progress.status("Hashing: 4 MB done");
  progress.done();
  assert.equal(sink.text, "Hashing: 1 MB\nHashing: 3 MB\nHashing: 4 MB done\n");
});

Deno.test("progress: a line after a terminal status replaces it; -q writes nothing", () => {
  const { sink, progress, tick } = recording(true);
  progress.status("Hashing: 1 MB");
  tick(1_000);
  progress.line("Content hash: Qm…");
  assert.equal(sink.text, "\r\x1b[KHashing: 1 MB\r\x1b[KContent hash: Qm…\n");

  const quiet = recording(true, true);
  quiet.progress.line("x");
  quiet.progress.output("y\n");
  quiet.progress.status("z");
  quiet.progress.done();
  assert.equal(quiet.sink.text, "");
});
