/** ModelRiver answered badly (or not at all); `status` is what our client gets, with a clear message. */
export class UpstreamError extends Error {
  override name = 'UpstreamError';
  readonly retryAfter?: string;

  constructor(
    readonly status: 400 | 429 | 502 | 504,
    message: string,
    options?: ErrorOptions & { retryAfter?: string },
  ) {
    super(message, options);
    this.retryAfter = options?.retryAfter;
  }
}
