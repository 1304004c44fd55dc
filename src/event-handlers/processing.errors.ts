/**
 * A processor failure no retry can fix (the AI output is unusable): the error callback goes out at once.
 * Any other error a processor throws is retried with backoff.
 */
export class PermanentProcessingError extends Error {
  override name = 'PermanentProcessingError';
}
