/**
 * Checking options, the same way in every layer: each checker takes the
 * value as given (possibly `undefined`, possibly of the wrong type, since
 * JavaScript callers are not type-checked), its name as the caller spells
 * it, and a default; it returns the value to use or throws
 * `InvalidArgument` saying what was expected and what came.
 *
 *     const shards = integerOption('shards', options.shards, { min: 1, max: 64, default: 4 });
 *     const durability = oneOfOption('durability', options.durability, ['flush', 'relaxed'], 'flush');
 *     const heartbeatMs = numberOption('heartbeatMs', options.heartbeatMs, { above: 0, default: 250 });
 *
 * Library code checks its options with these, not with checkers of its
 * own, so that every layer words a refusal the same way.
 */
import { TidalError } from './errors.js';

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return String(value); // NaN and ±Infinity by name (JSON would say null)
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** An integer in `min..max` (inclusive), or `default` when absent; without a `default` the option is required. */
export function integerOption(name: string, value: unknown, range: { min: number; max?: number; default?: number }): number {
  if (value === undefined && range.default !== undefined) return range.default;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(value) || (value as number) < range.min || (value as number) > max) {
    const bounds = range.max === undefined ? `at least ${range.min}` : `in ${range.min}..${range.max}`;
    throw new TidalError('InvalidArgument', `${name} must be an integer ${bounds}, got ${shown(value)}`);
  }
  return value as number;
}

/** A finite number greater than `above` (or at least `min`), and at most `max`; `default` when absent. */
export function numberOption(
  name: string,
  value: unknown,
  range: ({ above: number; min?: undefined } | { min: number; above?: undefined }) & { max?: number; default: number },
): number {
  if (value === undefined) return range.default;
  const max = range.max ?? Number.MAX_VALUE;
  const low = range.above !== undefined ? (v: number) => v > range.above : (v: number) => v >= range.min;
  if (typeof value !== 'number' || !Number.isFinite(value) || !low(value) || value > max) {
    const lower = range.above !== undefined ? `above ${range.above}` : `at least ${range.min}`;
    const bounds = range.max === undefined ? lower : `${lower} and at most ${range.max}`;
    throw new TidalError('InvalidArgument', `${name} must be a number ${bounds}, got ${shown(value)}`);
  }
  return value;
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
