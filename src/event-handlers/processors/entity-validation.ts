import { isJsonObject } from '../../common/json';

export interface ValidEntity {
  name: string;
  type: string | null;
}

export interface RejectedEntity {
  index: number;
  reason: 'not_an_object' | 'missing_name' | 'duplicate';
}

const MAX_NAME = 300;

/**
 * Keeps entities with a non-empty string `name` (trimmed, ≤ 300 chars) and their `type`; drops
 * case-insensitive duplicates (the first one wins). Rejections carry the entity's index and why.
 */
export function validateEntities(entities: readonly unknown[]): { valid: ValidEntity[]; rejected: RejectedEntity[] } {
  const valid: ValidEntity[] = [];
  const rejected: RejectedEntity[] = [];
  const seen = new Set<string>();
  entities.forEach((entity, index) => {
    if (!isJsonObject(entity)) {
      rejected.push({ index, reason: 'not_an_object' });
      return;
    }
    const name = typeof entity.name === 'string' ? entity.name.trim() : '';
    if (name.length === 0 || name.length > MAX_NAME) {
      rejected.push({ index, reason: 'missing_name' });
      return;
    }
    const key = name.toLowerCase();
    if (seen.has(key)) {
      rejected.push({ index, reason: 'duplicate' });
      return;
    }
    seen.add(key);
    valid.push({ name, type: typeof entity.type === 'string' ? entity.type : null });
  });
  return { valid, rejected };
}
