import { validateEntities } from './entity-validation';

describe('validateEntities', () => {
  it('keeps named entities with their type and rejects the rest with a reason', () => {
    const result = validateEntities([
      { name: 'Ada Lovelace', type: 'person' },
      { name: '  London ', type: 'place' },
      { name: 'ada lovelace', type: 'person' },
      { name: '', type: 'x' },
      { name: '   ' },
      { type: 'orphan' },
      { name: 42 },
      'Paris',
      null,
      { name: 'ACME', type: 7 },
      { name: 'x'.repeat(301) },
    ]);
    expect(result.valid).toEqual([
      { name: 'Ada Lovelace', type: 'person' },
      { name: 'London', type: 'place' },
      { name: 'ACME', type: null },
    ]);
    expect(result.rejected).toEqual([
      { index: 2, reason: 'duplicate' },
      { index: 3, reason: 'missing_name' },
      { index: 4, reason: 'missing_name' },
      { index: 5, reason: 'missing_name' },
      { index: 6, reason: 'missing_name' },
      { index: 7, reason: 'not_an_object' },
      { index: 8, reason: 'not_an_object' },
      { index: 10, reason: 'missing_name' },
    ]);
  });

  it('returns empty lists for no entities', () => {
    expect(validateEntities([])).toEqual({ valid: [], rejected: [] });
  });
});
