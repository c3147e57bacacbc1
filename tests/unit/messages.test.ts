import assert from "node:assert/strict";
import {
  decodeAddRequest,
  decodeChownRequest,
  decodeChownResponse,
  decodeDeleteResponse,
  decodeGetResponse,
  decodeHistoryResponse,
  decodeListResponse,
  decodeMemberAddRequest,
  decodeRollbackRequest,
  decodeRollbackResponse,
  encodeAddRequest,
  encodeAddResponse,
  encodeChownRequest,
  encodeChownResponse,
  encodeDeleteResponse,
  encodeErrorAnswer,
  encodeGetResponse,
  encodeHistoryResponse,
  encodeListResponse,
  encodeRollbackRequest,
  encodeRollbackResponse,
  InvalidValueError,
  isErrorAnswer,
  MalformedMessageError,
  validateServiceName,
} from "../../src/protocol/messages.ts";
import { parseServiceInfo } from "../../src/protocol/service_info.ts";
import { sampleInfo } from "../_registry.ts";

Deno.test("add request: exact field names, InfoStr kept verbatim", () => {
  const info = JSON.stringify({ ...sampleInfo(1), Extra: { new: true } });
  const text = encodeAddRequest({ Name: "svc", InfoStr: info });
  assert.equal(text, JSON.stringify({ Name: "svc", InfoStr: info }));
  assert.deepEqual(decodeAddRequest(text), { Name: "svc", InfoStr: info });
  assert.equal(encodeAddResponse({ Name: "svc", InfoStr: info }), `Added {svc: ${info}}`);
});

Deno.test("add request: malformed payloads are refused", () => {
  for (
    const bad of [
      "{",
      "[]",
      '{"Name":"a"}',
      '{"Name":1,"InfoStr":"{}"}',
      '{"Name":"a","InfoStr":"not json"}',
      '{"Name":"","InfoStr":"{}"}',
      '{"Name":" a","InfoStr":"{}"}',
    ]
  ) {
    assert.throws(() => decodeAddRequest(bad), MalformedMessageError, bad);
  }
});

Deno.test("get response: found and not found", () => {
  assert.equal(encodeGetResponse(undefined), '{"InfoStr":"","LookupOk":false}');
  assert.equal(encodeGetResponse("{}"), '{"InfoStr":"{}","LookupOk":true}');
  assert.deepEqual(decodeGetResponse('{"InfoStr":"{}","LookupOk":true}'), {
    InfoStr: "{}",
    LookupOk: true,
  });
  assert.throws(() => decodeGetResponse('{"InfoStr":1}'), MalformedMessageError);
});

Deno.test("list response: LookupOk false when empty; Go's null map accepted", () => {
  assert.equal(encodeListResponse([]), '{"NameToInfoStr":{},"LookupOk":false}');
  assert.equal(
    encodeListResponse([["a", "{}"], ["b", "{}"]]),
    '{"NameToInfoStr":{"a":"{}","b":"{}"},"LookupOk":true}',
  );
  assert.deepEqual(decodeListResponse('{"NameToInfoStr":null,"LookupOk":false}'), {
    NameToInfoStr: {},
    LookupOk: false,
  });
  assert.throws(
    () => decodeListResponse('{"NameToInfoStr":{"a":1},"LookupOk":true}'),
    MalformedMessageError,
  );
});

Deno.test("delete response texts", () => {
  assert.equal(encodeDeleteResponse(1), "Deleted 1 entry from hash lookup");
  assert.equal(encodeDeleteResponse(0), "Error: Failed to delete any entries from hash lookup");
  assert.equal(decodeDeleteResponse("Deleted 1 entry from hash lookup"), 1);
  assert.equal(decodeDeleteResponse("Error: Failed to delete any entries from hash lookup"), 0);
  assert.throws(() => decodeDeleteResponse("what"), MalformedMessageError);
});

Deno.test("memberadd request validation", () => {
  const ok = '{"MemberName":"127.0.0.1-2379-2380","MemberPeerUrl":"http://127.0.0.1:2380"}';
  assert.equal(decodeMemberAddRequest(ok).MemberPeerUrl, "http://127.0.0.1:2380");
  assert.throws(
    () => decodeMemberAddRequest('{"MemberName":"a","MemberPeerUrl":"ftp://x"}'),
    MalformedMessageError,
  );
  assert.throws(
    () => decodeMemberAddRequest('{"MemberName":"a b","MemberPeerUrl":"http://x:1"}'),
    MalformedMessageError,
  );
});

Deno.test("service names: control characters and huge names refused", () => {
  assert.equal(validateServiceName("svc-1.v2"), "svc-1.v2");
  assert.throws(() => validateServiceName("a\nb"), MalformedMessageError);
  assert.throws(() => validateServiceName("x".repeat(1025)), MalformedMessageError);
});

Deno.test("service names: each ill-formed kind is refused as an invalid value; NFC applied", () => {
  const bad: [string, RegExp][] = [
    ["", /empty/],
    ["x".repeat(254), /longer than 253/],
    ["a\u0000b", /U\+0000/],
    ["a\u007fb", /U\+007F/],
    ["a\u0085b", /U\+0085/],
    ["pay\u202Ements", /U\+202E/], // right-to-left override
    ["pay\u2066x", /U\+2066/], // left-to-right isolate
    ["a\u200Bb", /U\+200B/], // zero-width space
    ["a\u200Db", /U\+200D/], // zero-width joiner
    ["\uFEFFsvc", /U\+FEFF/],
    ["team/svc", /"\/"/],
    ["sur\ud800x", /lone surrogate/],
    ["x\udc00", /lone surrogate/],
    [" svc", /white space/],
  ];
  for (const [name, reason] of bad) {
    assert.throws(
      () => validateServiceName(name),
      (err) =>
        err instanceof InvalidValueError && /^invalid service name: /.test(err.message) &&
        reason.test(err.message),
      JSON.stringify(name),
    );
  }
  // 253 characters counted as code points, not UTF-16 units.
  assert.equal(validateServiceName("\u{1F600}".repeat(253)), "\u{1F600}".repeat(253));
  assert.equal(validateServiceName("Cafe\u0301"), "Caf\u00e9");
  assert.equal(validateServiceName("\u212B"), "\u00C5"); // Angstrom sign to A with ring
  const request = decodeAddRequest(
    JSON.stringify({ Name: "Cafe\u0301", InfoStr: JSON.stringify(sampleInfo(1)) }),
  );
  assert.equal(request.Name, "Caf\u00e9");
});

Deno.test("add request: each bad ServiceInfo is an invalid value, not a malformed request", () => {
  const base = sampleInfo(1) as Record<string, unknown>;
  const bad: [unknown, RegExp][] = [
    [{}, /ContentHash must be a string/],
    [{ ContentHash: 1, DockerHash: ["x"], CpuReq: "lots" }, /ContentHash must be a string/],
    [{ ...base, ContentHash: "" }, /ContentHash must not be empty/],
    [{ ...base, ContentHash: "Qm\nINFO forged" }, /ContentHash contains control/],
    [{ ...base, ContentHash: "Qm\u202E" }, /ContentHash contains control/],
    [{ ...base, DockerHash: ["x"] }, /DockerHash must be a string/],
    [{ ...base, DockerHash: "attacker/miner" }, /needs a tag or a digest/],
    [{ ...base, DockerHash: "team/Svc:1" }, /not a valid image name/],
    [{ ...base, DockerHash: "svc@sha256:00" }, /not a valid digest/],
    [{ ...base, DockerHash: "svc:-bad" }, /not a valid image tag/],
    [{ ...base, DockerHash: "svc:1 ; rm -rf /" }, /DockerHash/],
    [{ ...base, CpuReq: "lots" }, /CpuReq must be an integer/],
    [{ ...base, CpuReq: 1.5 }, /CpuReq must be an integer/],
    [{ ...base, MemoryReq: -1 }, /MemoryReq must be an integer >= 0/],
    [{ ...base, MemoryReq: 2 ** 60 }, /MemoryReq must be an integer/],
    [{ ...base, NetworkSoftReq: { RTT: "1" } }, /NetworkSoftReq.RTT must be an integer/],
    [{ ...base, NetworkHardReq: null }, /NetworkHardReq must be an object/],
    [[], /must be a JSON object/],
  ];
  for (const [info, reason] of bad) {
    const text = JSON.stringify({ Name: "svc", InfoStr: JSON.stringify(info) });
    assert.throws(
      () => decodeAddRequest(text),
      (err) =>
        err instanceof InvalidValueError && /^invalid service info: /.test(err.message) &&
        reason.test(err.message),
      text,
    );
  }
  const notJson = JSON.stringify({ Name: "svc", InfoStr: "nope" });
  assert.throws(() => decodeAddRequest(notJson), /invalid service info: .*not valid JSON/);
  // By tag and by digest, with a registry host, port and nested path, are well-formed.
  for (
    const docker of [
      "nginx:1.27",
      "registry.example.com:5000/team/sub/svc:v1.2-rc_3",
      `localhost:5000/team/svc@sha256:${"0f".repeat(32)}`,
      `svc:1@sha256:${"0f".repeat(32)}`,
    ]
  ) {
    const text = JSON.stringify({
      Name: "svc",
      InfoStr: JSON.stringify({ ...base, DockerHash: docker }),
    });
    assert.equal(decodeAddRequest(text).Name, "svc", docker);
  }
});

Deno.test("history, rollback and chown messages round-trip", () => {
  const versions = [
    {
      Revision: 9,
      Op: "delete" as const,
      InfoStr: "",
      Peer: "12D3KooWB",
      Time: "2026-01-01T00:00:02.000Z",
    },
    {
      Revision: 8,
      Op: "put" as const,
      InfoStr: "{}",
      Peer: "12D3KooWA",
      Time: "2026-01-01T00:00:01.000Z",
    },
  ];
  assert.deepEqual(decodeHistoryResponse(encodeHistoryResponse(versions)), { Versions: versions });
  assert.equal(encodeHistoryResponse([]), '{"Versions":[]}');
  assert.throws(() => decodeHistoryResponse('{"Versions":[{"Revision":1,"Op":"patch"}]}'), /Op/);
  assert.throws(() => decodeHistoryResponse("{}"), MalformedMessageError);

  assert.deepEqual(decodeRollbackRequest(encodeRollbackRequest({ Name: "svc" })), {
    Name: "svc",
    Revision: 0,
  });
  assert.deepEqual(decodeRollbackRequest(encodeRollbackRequest({ Name: "svc", Revision: 4 })), {
    Name: "svc",
    Revision: 4,
  });
  assert.throws(
    () => decodeRollbackRequest('{"Name":"svc","Revision":1.5}'),
    MalformedMessageError,
  );
  assert.throws(() => decodeRollbackRequest('{"Name":"a/b"}'), InvalidValueError);
  assert.deepEqual(decodeRollbackResponse(encodeRollbackResponse("svc", 4)), {
    Name: "svc",
    Revision: 4,
  });

  const owner = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
  assert.deepEqual(decodeChownRequest(encodeChownRequest({ Name: "svc", Owner: owner })), {
    Name: "svc",
    Owner: owner,
  });
  assert.throws(() => decodeChownRequest('{"Name":"svc"}'), MalformedMessageError);
  assert.throws(
    () => decodeChownRequest(JSON.stringify({ Name: "svc", Owner: "nobody" })),
    InvalidValueError,
  );
  assert.deepEqual(decodeChownResponse(encodeChownResponse("svc", owner)), {
    Name: "svc",
    Owner: owner,
  });
  assert.equal(encodeErrorAnswer("x"), "Error: x");
  assert.ok(isErrorAnswer(encodeDeleteResponse(0)));
});

Deno.test("ServiceInfo: exact fields, integers, unknown fields kept", () => {
  const info = parseServiceInfo(
    '{"ContentHash":"Qm","DockerHash":"a:1","NetworkSoftReq":{"RTT":100},' +
      '"NetworkHardReq":{"RTT":200},"CpuReq":20,"MemoryReq":1000,"GpuReq":1}',
  );
  assert.equal(info.NetworkSoftReq.RTT, 100);
  assert.equal((info as unknown as Record<string, unknown>).GpuReq, 1);
  assert.throws(() => parseServiceInfo('{"ContentHash":"Qm"}'), /DockerHash/);
  assert.throws(
    () =>
      parseServiceInfo(
        '{"ContentHash":"Qm","DockerHash":"d:1","NetworkSoftReq":{"RTT":1.5},' +
          '"NetworkHardReq":{"RTT":2},"CpuReq":1,"MemoryReq":1}',
      ),
    /NetworkSoftReq.RTT must be an integer/,
  );
});
