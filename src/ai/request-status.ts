import { DeliveryStatus } from '../database/database.types';

export type RequestStatus = 'pending' | 'ai_generated' | 'processing' | 'completed' | 'failed';

/**
 * A request's status, derived from what ModelRiver last said and from its delivery (if the webhook came):
 * nothing is stored twice, so the two can never disagree.
 */
export function deriveRequestStatus(upstreamStatus: string, delivery?: { status: DeliveryStatus }): RequestStatus {
  if (!delivery) return upstreamStatus === 'error' || upstreamStatus === 'failed' ? 'failed' : upstreamStatus === 'ai_generated' ? 'ai_generated' : 'pending';
  switch (delivery.status) {
    case 'queued':
      return 'ai_generated';
    case 'processing':
    case 'retrying':
      return 'processing';
    case 'completed':
      return 'completed';
    default:
      return 'failed';
  }
}
