import { normaliseTimestamp, normaliseWebhookPayload } from './webhook-envelope';

describe('normaliseWebhookPayload', () => {
  it.each([
    [
      'a flat payload is unchanged',
      { type: 'task.ai_generated', channel_id: 'c', extra: 1 },
      { type: 'task.ai_generated', channel_id: 'c', extra: 1 },
    ],
    [
      'an envelope is unwrapped, outer channel_id and timestamp filled in',
      { channel_id: 'c', timestamp: 5, data: { type: 'task.ai_generated', event: 'e', x: { y: 1 } } },
      { type: 'task.ai_generated', event: 'e', x: { y: 1 }, channel_id: 'c', timestamp: 5 },
    ],
    [
      'the inner channel_id wins over the envelope',
      { channel_id: 'outer', data: { type: 't.x', channel_id: 'inner' } },
      { type: 't.x', channel_id: 'inner', timestamp: undefined },
    ],
    [
      'a top-level type keeps data as a field (task.completed carries data)',
      { type: 'task.completed', data: { type: 'not-an-envelope' } },
      { type: 'task.completed', data: { type: 'not-an-envelope' } },
    ],
    ['data without a type is not an envelope', { data: { a: 1 } }, { data: { a: 1 } }],
    ['an array is returned as is', [1, 2], [1, 2]],
    ['null is returned as is', null, null],
  ])('%s', (_name, input, expected) => {
    expect(normaliseWebhookPayload(input)).toEqual(expected);
  });
});

describe('normaliseTimestamp', () => {
  it.each([
    ['2026-11-26T20:00:00Z', '2026-11-26T20:00:00Z'],
    [1764187200, '2025-11-26T20:00:00.000Z'],
    ['yesterday', undefined],
    [Number.NaN, undefined],
    [{}, undefined],
  ])('%p → %p', (input, expected) => {
    expect(normaliseTimestamp(input)).toBe(expected);
  });
});
