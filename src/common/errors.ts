/**
 * Typed errors thrown below the HTTP edge. AllExceptionsFilter maps them to answers, so services never
 * decide status codes and nothing unexpected ever becomes a 2xx.
 */
/**
 * The service cannot start as configured (a port in use, a database held by another process): printed as one
 * line, without a stack trace, and the process exits non-zero.
 */
export class StartupError extends Error {
  override name = 'StartupError';
}

export class InvalidJsonError extends Error {
  override name = 'InvalidJsonError';
}

/** The caller's input cannot be used (400); `errors` lists each reason when there are several. */
export class InvalidRequestError extends Error {
  override name = 'InvalidRequestError';
  constructor(
    message: string,
    readonly errors?: string[],
  ) {
    super(message);
  }
}

/** The thing asked for does not exist (404). */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

/** The request conflicts with the current state, e.g. replaying a delivery that is not dead (409). */
export class ConflictError extends Error {
  override name = 'ConflictError';
}

/** The thing existed but is over, e.g. reconnecting to a request that has finished (410). */
export class GoneError extends Error {
  override name = 'GoneError';
}

/** Well-formed, but still not acceptable; `errors` says why, one reason each (422). */
export class UnprocessableError extends Error {
  override name = 'UnprocessableError';
  constructor(
    message: string,
    readonly errors: string[],
  ) {
    super(message);
  }
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

/** Intake is refusing new work until the backlog drains (admission control): expected, logged where it turns on and off. */
export class OverloadedError extends ServiceUnavailableError {
  override name = 'OverloadedError';
}
