/** A parsed JSON object (never an array or null). */
export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `{ ...a, ...b, ...c }` for plain data, built by Object.assign. On Node 20 (V8 11.3) every property an object literal
 * defines after a spread takes V8's slow path: `{ ...row, a, b }` costs ~1.5 µs there against ~0.03 µs on Node 22, and
 * a delivery made several such objects (bench/HISTORY.md, "Figures of 2026-12-07, 19:58–20:20"). The two differ only
 * for an own `__proto__` key, which Object.assign would take as the new object's prototype: merge only objects of our
 * own making or webhook payloads, which lose theirs at parsing (parseDeliveryPayload); a spread keeps such a key.
 */
export function merged<A extends object, B extends object, C extends object = object>(a: A, b: B, c?: C): A & B & C {
  return Object.assign({}, a, b, c);
}
