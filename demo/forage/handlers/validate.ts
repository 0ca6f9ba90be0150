/**
 * Checks on request fields. Requests cross a worker boundary and come from
 * the page, devtools or tests, so every handler checks what it reads and
 * answers a bad field with `TidalError('InvalidArgument')` naming it, before
 * it writes anything.
 */
import { TidalError } from '../../../src/index.js';

/** Longest id a request may name. */
const MAX_ID_LENGTH = 200;

export function invalid(field: string, problem: string): TidalError {
  return new TidalError('InvalidArgument', `${field} ${problem}`, { details: { field } });
}

/** The request as a record of fields, or refused. */
export function fields(request: unknown): Record<string, unknown> {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) throw invalid('request', 'must be an object');
  return request as Record<string, unknown>;
}

export function requiredString(value: unknown, field: string, max = 10_000): string {
  if (typeof value !== 'string') throw invalid(field, `must be a string, not ${value === undefined ? 'missing' : typeof value}`);
  if (value.trim() === '') throw invalid(field, 'must not be empty');
  if (value.length > max) throw invalid(field, `is ${value.length} characters long, more than ${max}`);
  return value;
}

export function optionalString(value: unknown, field: string, max = 10_000): string | undefined {
  return value === undefined ? undefined : requiredString(value, field, max);
}

export function id(value: unknown, field: string): string {
  return requiredString(value, field, MAX_ID_LENGTH);
}

export function optionalInteger(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(field, `must be an integer in [${min}, ${max}]`);
  }
  return value;
}
