/** A processor failure worth another try (a locked table, a flaky dependency). */
export class RetryableProcessingError extends Error {
  override name = 'RetryableProcessingError';
}

/** A processor failure no retry can fix (the AI output is unusable): the error callback goes out at once. */
export class PermanentProcessingError extends Error {
  override name = 'PermanentProcessingError';
}
