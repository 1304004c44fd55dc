import { ValidationError, ValidationPipe } from '@nestjs/common';
import { FastifyRequest, onRequestHookHandler } from 'fastify';
import { errorBody } from './error-body';
import { InvalidRequestError } from './errors';

/** class-validator's rule names, most basic first: the one reported when a value breaks several. */
const BASIC_RULES = ['isString', 'isInt', 'isNumber', 'isBoolean', 'isObject', 'isArray', 'isIn', 'isUuid', 'isIso8601', 'matches'];

/**
 * One reason per field: "prompt is required" when it is absent, otherwise the most basic rule it breaks (a
 * number for `prompt` says "prompt must be a string", once, not three contradicting lines).
 */
export function describeValidationErrors(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((error) => {
    const path = `${prefix}${error.property}`;
    const children = describeValidationErrors(error.children ?? [], `${path}.`);
    const constraints = error.constraints ?? {};
    const names = Object.keys(constraints);
    if (names.length === 0) return children;
    if ((error.value === undefined || error.value === null) && !names.includes('whitelistValidation')) return [`${path} is required`, ...children];
    if ('whitelistValidation' in constraints) return [`${path} is not a field of this request`, ...children];
    const first = constraints[BASIC_RULES.find((rule) => rule in constraints) ?? names[0]];
    return [first.startsWith(error.property) ? `${prefix}${first}` : `${path} ${first}`, ...children];
  });
}

/** The global pipe for request DTOs: whitelisted, transformed, and refused in the one error shape. */
export function requestValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => {
      const reasons = describeValidationErrors(errors);
      return new InvalidRequestError(reasons.join('; '), reasons);
    },
  });
}

const hasBody = (request: FastifyRequest) => Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
const isJson = (request: FastifyRequest) => (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() === 'application/json';

/** JSON APIs take JSON: a body of any other type is refused (415) before it is parsed. `except`: routes with their own gate. */
export function jsonBodiesOnly(except: (request: FastifyRequest) => boolean): onRequestHookHandler {
  return (request, reply, done) => {
    if (request.is404 || except(request) || !hasBody(request) || isJson(request)) {
      done();
      return;
    }
    void reply.code(415).send(errorBody(415, 'content-type must be application/json', String(request.id)));
  };
}
