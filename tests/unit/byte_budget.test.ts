import assert from "node:assert/strict";
import { BudgetExceededError, ByteBudget } from "../../src/protocol/byte_budget.ts";

Deno.test("a budget takes from its parent, and takes nothing when either is short", () => {
  const service = new ByteBudget(100, "requests still arriving");
  const a = new ByteBudget(60, "connection a", service);
  const b = new ByteBudget(60, "connection b", service);
  assert.equal(a.take(50), undefined);
  assert.equal(a.take(20), a, "over a's own 60");
  assert.equal(a.used, 50);
  assert.equal(b.take(51), service, "over the service's 100 (51 would fit b)");
  assert.equal(b.used, 0);
  assert.equal(service.used, 50);
  a.give(50);
  assert.equal(service.used, 0);
  assert.equal(b.take(60), undefined);
  assert.equal(service.used, 60);
});

Deno.test("the error says which budget was exceeded and by how much it was held", () => {
  const budget = new ByteBudget(10, "requests still arriving on this connection");
  budget.take(8);
  const err = new BudgetExceededError(budget.take(5)!);
  assert.equal(err.name, "BudgetExceededError");
  assert.match(
    err.message,
    /^requests still arriving on this connection already hold 8 bytes \(limit 10\)/,
  );
});

Deno.test("a budget limit must be a number of bytes", () => {
  assert.throws(() => new ByteBudget(Number.NaN, "x"), RangeError);
  assert.throws(() => new ByteBudget(-1, "x"), RangeError);
});
