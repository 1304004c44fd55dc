import { dedupeKey, quarantineKey } from './dedupe-key';

describe('dedupe keys', () => {
  it('keys a delivery on its channel and type', () => {
    expect(dedupeKey('c-1', 'task.ai_generated')).toBe('c-1:task.ai_generated');
    expect(dedupeKey('c-1', 'task.completed')).not.toBe(dedupeKey('c-1', 'task.ai_generated'));
  });

  it('keys a quarantined body on its bytes', () => {
    expect(quarantineKey(Buffer.from('{"a":1}'))).toBe(quarantineKey(Buffer.from('{"a":1}')));
    expect(quarantineKey(Buffer.from('{"a":1}'))).not.toBe(quarantineKey(Buffer.from('{"a": 1}')));
    expect(quarantineKey(Buffer.from('x'))).toMatch(/^quarantine:[0-9a-f]{64}$/);
  });
});
