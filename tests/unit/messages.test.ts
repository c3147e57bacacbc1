import assert from "node:assert/strict";
import {
  decodeAddRequest,
  decodeDeleteResponse,
  decodeGetResponse,
  decodeListResponse,
  decodeMemberAddRequest,
  encodeAddRequest,
  encodeAddResponse,
  encodeDeleteResponse,
  encodeGetResponse,
  encodeListResponse,
  MalformedMessageError,
  validateServiceName,
} from "../../src/protocol/messages.ts";
import { parseServiceInfo } from "../../src/protocol/service_info.ts";

Deno.test("add request: exact field names, InfoStr kept verbatim", () => {
  const info = '{"ContentHash":"Qm","Extra":{"new":true}}';
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

Deno.test("ServiceInfo: exact fields, integers, unknown fields kept", () => {
  const info = parseServiceInfo(
    '{"ContentHash":"Qm","DockerHash":"a@sha256:1","NetworkSoftReq":{"RTT":100},' +
      '"NetworkHardReq":{"RTT":200},"CpuReq":20,"MemoryReq":1000,"GpuReq":1}',
  );
  assert.equal(info.NetworkSoftReq.RTT, 100);
  assert.equal((info as unknown as Record<string, unknown>).GpuReq, 1);
  assert.throws(() => parseServiceInfo('{"ContentHash":"Qm"}'), /DockerHash/);
  assert.throws(
    () =>
      parseServiceInfo(
        '{"ContentHash":"Qm","DockerHash":"d","NetworkSoftReq":{"RTT":1.5},' +
          '"NetworkHardReq":{"RTT":2},"CpuReq":1,"MemoryReq":1}',
      ),
    /NetworkSoftReq.RTT must be an integer/,
  );
});
