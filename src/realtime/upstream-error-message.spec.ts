import { upstreamErrorMessage } from './upstream-relay.service';

describe('upstreamErrorMessage', () => {
  it.each<[string, unknown, string]>([
    ['the SDK shape', { status: 'error', error: { message: 'Model overloaded', details: { code: 'x' } } }, 'Model overloaded'],
    ['a channel error event', { message: 'join expired' }, 'join expired'],
    ['a code with a message beside it', { status: 'error', error: 'processing_failed', message: 'no title' }, 'no title'],
    ['a bare string error', { status: 'error', error: 'timeout' }, 'timeout'],
    ['nothing readable', { status: 'error', error: {} }, 'ModelRiver reported an error'],
    ['not an object', 'boom', 'ModelRiver reported an error'],
  ])('reads %s', (_name, payload, message) => {
    expect(upstreamErrorMessage(payload)).toBe(message);
  });
});
