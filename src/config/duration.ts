const UNITS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `30s`, `15m`, `36h`, `7d`: a whole number and one unit. */
const DURATION = '(\\d{1,6})([smhd])';
const DURATION_PATTERN = new RegExp(`^${DURATION}$`);
/** A duration, or `off`. */
export const DURATION_OR_OFF_PATTERN = new RegExp(`^(${DURATION}|off)$`);

/** A duration such as `7d` in milliseconds, or undefined if the text is not one. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNITS[match[2] as keyof typeof UNITS];
}
