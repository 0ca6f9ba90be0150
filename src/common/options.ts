/**
 * Checking options, the same way in every layer: each checker takes the
 * value as given (possibly `undefined`, possibly of the wrong type, since
 * JavaScript callers are not type-checked), its name as the caller spells
 * it, and a default; it returns the value to use or throws
 * `InvalidArgument` saying what was expected and what came.
 *
 *     const shards = integerOption('shards', options.shards, { min: 1, max: 64, default: 4 });
 *     const durability = oneOfOption('durability', options.durability, ['flush', 'relaxed'], 'flush');
 */
import { TidalError } from './errors.js';

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** An integer in `min..max` (inclusive), or `fallback` when absent. */
export function integerOption(name: string, value: unknown, range: { min: number; max?: number; default: number }): number {
  if (value === undefined) return range.default;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(value) || (value as number) < range.min || (value as number) > max) {
    const bounds = range.max === undefined ? `at least ${range.min}` : `in ${range.min}..${range.max}`;
    throw new TidalError('InvalidArgument', `${name} must be an integer ${bounds}, got ${shown(value)}`);
  }
  return value as number;
}

/** One of `allowed`, or `fallback` when absent. */
export function oneOfOption<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    throw new TidalError('InvalidArgument', `${name} must be ${allowed.map((a) => `'${a}'`).join(' or ')}, got ${shown(value)}`);
  }
  return value as T;
}

/** A boolean, or `fallback` when absent. */
export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TidalError('InvalidArgument', `${name} must be true or false, got ${shown(value)}`);
  return value;
}

/** A function, or `undefined` when absent. */
export function functionOption<F extends (...args: never[]) => unknown>(name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TidalError('InvalidArgument', `${name} must be a function, got ${shown(value)}`);
  return value as F;
}
