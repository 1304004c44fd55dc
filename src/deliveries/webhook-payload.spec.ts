import { nestingDepth, validateWebhookPayload } from './webhook-payload';

const aiGenerated = {
  type: 'task.ai_generated',
  event: 'content_ready',
  channel_id: '6f1c6c1e-6a53-4c67-9d2d-3c1f5b1e2a10',
  ai_response: { data: { title: 'Hello' }, meta: { model: 'm' } },
  callback_url: 'https://api.modelriver.com/v1/callback/6f1c6c1e-6a53-4c67-9d2d-3c1f5b1e2a10',
  callback_required: true,
  customer_data: {},
  timestamp: '2026-11-26T20:00:00Z',
  future_field: { kept: true },
};

describe('validateWebhookPayload', () => {
  it('accepts an event-driven payload and returns it untouched, unknown fields included', () => {
    const result = validateWebhookPayload(aiGenerated);
    expect(result).toEqual({
      ok: true,
      payload: aiGenerated,
      type: 'task.ai_generated',
      channelId: aiGenerated.channel_id,
      event: 'content_ready',
    });
  });

  it('accepts a standard task.completed payload with a Unix-seconds timestamp', () => {
    const result = validateWebhookPayload({
      type: 'task.completed',
      status: 'success',
      channel_id: 'c-1',
      data: { choices: [] },
      timestamp: 1764187200,
    });
    expect(result).toMatchObject({ ok: true, type: 'task.completed', event: null });
  });

  it.each<[string, unknown, string]>([
    ['a non-object', [1], 'payload must be a JSON object'],
    ['missing channel_id', { ...aiGenerated, channel_id: undefined }, 'channel_id'],
    ['a channel_id with a slash', { ...aiGenerated, channel_id: '../x' }, 'channel_id'],
    ['missing event', { ...aiGenerated, event: undefined }, 'event'],
    ['missing callback_url', { ...aiGenerated, callback_url: undefined }, 'callback_url'],
    ['ai_response.data that is an array', { ...aiGenerated, ai_response: { data: [] } }, 'ai_response.data'],
    ['a bad timestamp', { ...aiGenerated, timestamp: 'soon' }, 'timestamp'],
    ['a status outside success|error', { type: 'task.completed', channel_id: 'c', status: 'ok' }, 'status'],
    ['a type that is not task.<name>', { type: 'DROP TABLE', channel_id: 'c' }, 'type'],
  ])('rejects %s, naming the field', (_name, payload, field) => {
    const result = validateWebhookPayload(payload);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors.join('\n')).toContain(field);
  });

  it.each<[string, unknown, string[]]>([
    ['no type', { channel_id: 'c' }, ['type is required']],
    ['no callback_url', { ...aiGenerated, callback_url: undefined }, ['callback_url is required']],
    ['an empty callback_url', { ...aiGenerated, callback_url: '' }, ['callback_url must not be empty']],
    ['a numeric channel_id', { ...aiGenerated, channel_id: 42 }, ['channel_id must be a string']],
    ['a long type', { type: `task.${'x'.repeat(100)}`, channel_id: 'c' }, ['type must be at most 100 characters']],
    ['ai_response without data', { ...aiGenerated, ai_response: { meta: {} } }, ['ai_response.data is required']],
    ['ai_response that is a string', { ...aiGenerated, ai_response: 'x' }, ['ai_response must be a JSON object']],
    ['a status outside success|error', { type: 'task.completed', channel_id: 'c', status: 'ok' }, ['status must be one of success, error']],
    ['several problems', { type: 'task.ai_generated', channel_id: 'c' }, ['event is required', 'ai_response is required', 'callback_url is required']],
  ])('says exactly what is wrong with %s', (_name, payload, errors) => {
    expect(validateWebhookPayload(payload)).toEqual({ ok: false, errors });
  });

  it('rejects hostile nesting without recursing into it', () => {
    let deep: Record<string, unknown> = {};
    const root = { ...aiGenerated, customer_data: deep };
    for (let i = 0; i < 10_000; i++) deep = deep.x = {};
    const result = validateWebhookPayload(root);
    expect(result).toEqual({ ok: false, errors: ['payload nests deeper than 64 levels'] });
  });
});

describe('nestingDepth', () => {
  it.each([
    [1, 0],
    [{}, 1],
    [{ a: [1, { b: {} }] }, 4],
  ])('%j has depth %i', (value, depth) => {
    expect(nestingDepth(value, 100)).toBe(depth);
  });
});
