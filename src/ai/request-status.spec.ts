import { deriveRequestStatus } from './request-status';

describe('deriveRequestStatus', () => {
  it.each([
    ['pending', undefined, 'pending'],
    ['IN_PROGRESS', undefined, 'pending'],
    ['ai_generated', undefined, 'ai_generated'],
    ['error', undefined, 'failed'],
    ['pending', 'queued', 'ai_generated'],
    ['pending', 'processing', 'processing'],
    ['pending', 'retrying', 'processing'],
    ['pending', 'completed', 'completed'],
    ['pending', 'dead', 'failed'],
    ['pending', 'quarantined', 'failed'],
  ] as const)('upstream %s, delivery %s → %s', (upstream, delivery, expected) => {
    expect(deriveRequestStatus(upstream, delivery ? { status: delivery } : undefined)).toBe(expected);
  });
});
