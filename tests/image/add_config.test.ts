import { deepEqual, equal, match, rejects, throws } from "node:assert/strict";
import { AddConfigError, parseAddConfig, resolveCopySources } from "../../src/image/add_config.ts";

const FULL = `{
  "NetworkSoftReq": {"RTT": 100},
  "NetworkHardReq": {"RTT": 300},
  "CpuReq": 20,
  "MemoryReq": 1000,
  "DockerConf": {
    "From": "base:1",
    "Copy": [["svc.sh", "bin/svc.sh"]],
    "Run": ["chmod +x bin/svc.sh"],
    "Cmd": "./bin/svc.sh $PROXY_IP $SERVICE_PORT",
    "ProxyClientMode": true
  }
}`;

Deno.test("parseAddConfig reads every field and warns about nothing", () => {
  const { config, warnings } = parseAddConfig(FULL);
  deepEqual(warnings, []);
  deepEqual(config, {
    NetworkSoftReq: { RTT: 100 },
    NetworkHardReq: { RTT: 300 },
    CpuReq: 20,
    MemoryReq: 1000,
    DockerConf: {
      From: "base:1",
      Copy: [["svc.sh", "bin/svc.sh"]],
      Run: ["chmod +x bin/svc.sh"],
      Cmd: "./bin/svc.sh $PROXY_IP $SERVICE_PORT",
      ProxyClientMode: true,
    },
  });
});

Deno.test("parseAddConfig fills defaults and warns about unknown and missing fields", () => {
  const { config, warnings } = parseAddConfig(
    '{"CpuReq": 1, "MemoryReq": 2, "NetworkSoftReq": {"RTT": 3}, "Colour": "red",' +
      ' "DockerConf": {"Cmd": "x", "Volume": 1}}',
  );
  equal(config.DockerConf.From, "ubuntu:16.04");
  deepEqual(config.DockerConf.Copy, []);
  equal(config.DockerConf.ProxyClientMode, false);
  deepEqual(config.NetworkHardReq, { RTT: 0 });
  deepEqual(warnings.sort(), [
    'config field NetworkHardReq is missing; using {"RTT": 0}',
    "unknown config field Colour is ignored",
    "unknown config field DockerConf.Volume is ignored",
  ]);
});

Deno.test("a JSON syntax error names the line and shows it", () => {
  const broken = FULL.replace('"CpuReq": 20,', '"CpuReq": 20,,');
  const error = (() => {
    try {
      parseAddConfig(broken, "svc.json");
    } catch (e) {
      return e as Error;
    }
    throw new Error("no error");
  })();
  equal(error instanceof AddConfigError, true);
  match(error.message, /^svc\.json: JSON syntax error at line 4, column 16:/);
  match(error.message, /\n {2} {2}"CpuReq": 20,,\n/);
  // Errors V8 reports without a position still get a line.
  throws(() => parseAddConfig('{\n"CpuReq": tru\n}'), /line 2, column 14/);
  throws(() => parseAddConfig('{\n"CpuReq": 1'), /line 2/);
  throws(() => parseAddConfig(""), /line 1, column 1/);
});

Deno.test("a wrong type names the field", () => {
  const cases: [string, RegExp][] = [
    ['{"CpuReq": "20"}', /CpuReq must be an integer/],
    ['{"MemoryReq": 1.5}', /MemoryReq must be an integer/],
    ['{"NetworkSoftReq": 100}', /NetworkSoftReq must be an object/],
    ['{"NetworkHardReq": {"RTT": "fast"}}', /NetworkHardReq\.RTT must be an integer/],
    ['{"DockerConf": {"Copy": ["a", "b"]}}', /DockerConf\.Copy must be a list/],
    ['{"DockerConf": {"Run": "make"}}', /DockerConf\.Run must be a list of strings/],
    ['{"DockerConf": {"From": 7}}', /DockerConf\.From must be a string/],
    ['{"DockerConf": {"ProxyClientMode": "yes"}}', /DockerConf\.ProxyClientMode must be/],
    ["[1]", /must be a JSON object/],
  ];
  for (const [text, expected] of cases) throws(() => parseAddConfig(text), expected);
});

Deno.test("resolveCopySources keeps sources inside -dir", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/svc`;
    await Deno.mkdir(`${dir}/web/static`, { recursive: true });
    await Deno.writeTextFile(`${dir}/svc.sh`, "echo");
    await Deno.writeTextFile(`${dir}/web/static/index.html`, "<p>");
    await Deno.writeTextFile(`${root}/secret`, "s");
    await Deno.symlink(`${root}/secret`, `${dir}/link`);

    const ok = await resolveCopySources([["./svc.sh", "svc.sh"], ["web/", "www"]], dir);
    deepEqual(ok.map((c) => [c.source, c.destination]), [["svc.sh", "svc.sh"], ["web", "www"]]);
    equal(ok[1].path, await Deno.realPath(`${dir}/web`));

    const refused: [[string, string], RegExp][] = [
      [["../secret", "x"], /"\.\.\/secret" is outside -dir/],
      [["web/../../secret", "x"], /outside -dir/],
      [[`${root}/secret`, "x"], /is an absolute path/],
      [["link", "x"], /"link" leads outside -dir/],
      [["missing.txt", "x"], /"missing.txt" does not exist in -dir/],
      [["conf.json", "x"], /would replace the build context's own conf.json/],
      [[".", "x"], /would replace the build context's own files/],
    ];
    for (const [pair, expected] of refused) {
      await rejects(resolveCopySources([pair], dir), expected);
    }
    // Every problem is reported at once.
    await rejects(
      resolveCopySources([["a", "x"], ["svc.sh", "y"], ["b", "z"]], dir),
      (e: Error) => /"a" does not exist/.test(e.message) && /"b" does not exist/.test(e.message),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
