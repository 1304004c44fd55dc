import { slugCandidates, slugify } from './slug';

describe('slugify', () => {
  it.each([
    ['Hello World', 'hello-world'],
    ['  Crème brûlée: a guide!  ', 'creme-brulee-a-guide'],
    ['Ünïcödé & Co.', 'unicode-co'],
    ['!!!', 'content'],
    ['', 'content'],
    ['日本語', 'content'],
    ['a'.repeat(200), 'a'.repeat(80)],
    [`${'ab '.repeat(26)}x`, `${'ab-'.repeat(26)}x`.slice(0, 80).replace(/-+$/, '')],
  ])('%p → %p', (title, slug) => {
    expect(slugify(title)).toBe(slug);
  });
});

describe('slugCandidates', () => {
  it('starts with the plain slug, then channel-derived suffixes', () => {
    const [plain, short, long] = slugCandidates('Hello World', 'channel-1');
    expect(plain).toBe('hello-world');
    expect(short).toMatch(/^hello-world-[0-9a-f]{8}$/);
    expect(long).toMatch(/^hello-world-[0-9a-f]{20}$/);
  });

  it('is deterministic per channel and differs between channels', () => {
    expect(slugCandidates('T', 'c1')).toEqual(slugCandidates('T', 'c1'));
    expect(slugCandidates('T', 'c1')[1]).not.toBe(slugCandidates('T', 'c2')[1]);
  });

  it('gives 5,000 channels with one title distinct second candidates', () => {
    const seconds = new Set(Array.from({ length: 5000 }, (_, i) => slugCandidates('Same title', `ch-${i}`)[1]));
    expect(seconds.size).toBe(5000);
  });
});
