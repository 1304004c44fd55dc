import { newRowId } from './row-id';

describe('newRowId', () => {
  it('is a version 7 UUID that carries its millisecond', () => {
    const now = Date.parse('2026-11-26T12:00:00.123Z');
    const id = newRowId(now);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(now);
  });

  it('sorts by time and never repeats', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => newRowId(1_700_000_000_000 + i));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(Array.from({ length: 10_000 }, () => newRowId())).size).toBe(10_000);
  });

  it('carries the millisecond it was given, whichever came before (the prefix is kept per millisecond)', () => {
    const times = [0, 1, 0xffffff, 0x1000000, 0x1000001, 1_700_000_000_000, 1_700_000_000_000, 1_699_999_999_999, 0xffffffffffff, 5];
    for (const now of times) {
      const id = newRowId(now);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(now);
    }
  });
});
