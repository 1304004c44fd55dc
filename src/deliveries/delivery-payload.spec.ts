import { InvalidJsonError } from '../common/errors';
import { normaliseWebhookPayload, parseDeliveryPayload, readStoredPayload, StoredPayloadError } from './delivery-payload';

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

describe('parseDeliveryPayload', () => {
  it('parses and unwraps the envelope in one step', () => {
    expect(parseDeliveryPayload('{"channel_id":"c","data":{"type":"task.x","event":"e"}}')).toEqual({
      type: 'task.x',
      event: 'e',
      channel_id: 'c',
      timestamp: undefined,
    });
  });

  it('drops prototype keys instead of merging them', () => {
    const parsed = parseDeliveryPayload('{"type":"task.x","__proto__":{"polluted":true},"constructor":{"prototype":{"p":1}}}');
    expect(parsed).toEqual({ type: 'task.x' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('throws InvalidJsonError on text that is not JSON', () => {
    expect(() => parseDeliveryPayload('{"type":')).toThrow(InvalidJsonError);
  });
});

describe('readStoredPayload', () => {
  it('returns the normalised object', () => {
    expect(readStoredPayload({ id: 'd', payload: '{"type":"task.x","channel_id":"c"}' })).toEqual({ type: 'task.x', channel_id: 'c' });
  });

  it.each(['[1,2]', 'null', '"text"'])('refuses a stored payload that is not an object: %s', (payload) => {
    expect(() => readStoredPayload({ id: 'd', payload })).toThrow(StoredPayloadError);
  });
});
