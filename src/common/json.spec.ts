import { isJsonObject, merged } from './json';

describe('isJsonObject', () => {
  it('is true for plain objects only', () => {
    expect(isJsonObject({ a: 1 })).toBe(true);
    expect([null, [], 'x', 1, undefined].map(isJsonObject)).toEqual([false, false, false, false, false]);
  });
});

describe('merged', () => {
  it('builds what a spread builds: keys in order, later values win, undefined values kept', () => {
    const a = { title: 't', body: 'b', slug: 'old' };
    const b = { slug: 'new', processed: true, error: undefined };
    const c = { seq: 2 };
    const result = merged(a, b, c);
    expect(result).toEqual({ ...a, ...b, ...c });
    expect(Object.keys(result)).toEqual(Object.keys({ ...a, ...b, ...c }));
    expect('error' in result).toBe(true);
  });

  it('makes a new object and leaves its sources alone', () => {
    const a = { x: 1 };
    const b = { y: 2 };
    const result = merged(a, b);
    expect(result).not.toBe(a);
    expect(a).toEqual({ x: 1 });
    expect(b).toEqual({ y: 2 });
  });

  it('takes two sources as well as three', () => {
    expect(merged({ a: 1 }, { b: 2 })).toEqual({ a: 1, b: 2 });
  });
});
