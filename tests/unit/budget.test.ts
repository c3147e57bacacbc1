import assert from "node:assert/strict";
import { Budget, BudgetExceededError } from "../../src/protocol/budget.ts";

Deno.test("a budget takes from its parent, and takes nothing when either is short", () => {
  const service = new Budget(100, "bytes of requests still arriving");
  const a = new Budget(60, "connection a", service);
  const b = new Budget(60, "connection b", service);
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

Deno.test("the error says which budget was exceeded and how much of it is in use", () => {
  const budget = new Budget(10, "requests in flight on this connection");
  budget.take(8);
  const err = new BudgetExceededError(budget.take(5)!);
  assert.equal(err.name, "BudgetExceededError");
  assert.equal(
    err.message,
    "requests in flight on this connection: 8 of 10 in use; try again later",
  );
});

Deno.test("a budget limit must be a number >= 0", () => {
  assert.throws(() => new Budget(Number.NaN, "x"), RangeError);
  assert.throws(() => new Budget(-1, "x"), RangeError);
});
