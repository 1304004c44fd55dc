import { parseDuration } from './duration';

describe('durations', () => {
  it.each([
    ['30s', 30_000],
    ['15m', 900_000],
    ['36h', 129_600_000],
    ['7d', 604_800_000],
    [' 1d ', 86_400_000],
  ])('reads %p as %p ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '7', 'd', '7 d', '1.5h', '-1h', '7w', '1234567d'])('refuses %p', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
