/**
 * Typed errors thrown below the HTTP edge. AllExceptionsFilter maps them to answers, so services never
 * decide status codes and nothing unexpected ever becomes a 2xx.
 */
export class InvalidJsonError extends Error {
  override name = 'InvalidJsonError';
}

/** Storage or queue cannot take the delivery now; the sender must retry (503 + Retry-After). */
export class ServiceUnavailableError extends Error {
  override name = 'ServiceUnavailableError';
  constructor(
    message: string,
    options?: ErrorOptions,
    readonly retryAfterSeconds = 5,
  ) {
    super(message, options);
  }
}
