import { createHash } from 'node:crypto';

const MAX_BASE = 80;

/** Lower-case ASCII words joined by hyphens; accents folded; never empty. */
export function slugify(title: string): string {
  const slug = title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_BASE)
    .replace(/-+$/g, '');
  return slug || 'content';
}

/**
 * Slugs to try, in order, for one piece of content. The first is the plain slug; on a collision the next
 * ones carry a suffix derived from the channel id, so thousands of equal titles still cost a constant
 * number of inserts (no `-2`, `-3`, … probing), and a retry of the same channel proposes the same slugs.
 */
export function slugCandidates(title: string, channelId: string): string[] {
  const base = slugify(title);
  const digest = createHash('sha256').update(channelId).digest('hex');
  return [base, `${base}-${digest.slice(0, 8)}`, `${base}-${digest.slice(0, 20)}`];
}
