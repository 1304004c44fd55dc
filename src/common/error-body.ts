import { STATUS_CODES } from 'node:http';

/**
 * Every error answer has this shape, whatever produced it (the filter, a route gate): `message` is always one
 * string a person can read; `errors` lists each reason when there are several (validation).
 */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  errors?: string[];
  request_id: string;
}

export function errorBody(statusCode: number, message: string, requestId: string, errors?: string[]): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, ...(errors && errors.length > 0 ? { errors } : {}), request_id: requestId };
}
