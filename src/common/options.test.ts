import { describe, expect, it } from 'vitest';
import { isTidalError } from './errors.js';
import { booleanOption, functionOption, integerOption, numberOption, oneOfOption } from './options.js';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (isTidalError(error, 'InvalidArgument')) return error.message;
    throw error;
  }
  throw new Error('accepted');
}

describe('option checkers', () => {
  it('fill in the default for an absent option and keep a valid one', () => {
    expect(integerOption('shards', undefined, { min: 1, max: 64, default: 4 })).toBe(4);
    expect(integerOption('shards', 64, { min: 1, max: 64, default: 4 })).toBe(64);
    expect(integerOption('shards', 3, { min: 1, max: 64 })).toBe(3);
    expect(numberOption('heartbeatMs', undefined, { above: 0, default: 250 })).toBe(250);
    expect(numberOption('heartbeatMs', 0.5, { above: 0, default: 250 })).toBe(0.5);
    expect(oneOfOption('durability', undefined, ['flush', 'relaxed'], 'flush')).toBe('flush');
    expect(oneOfOption('durability', 'relaxed', ['flush', 'relaxed'], 'flush')).toBe('relaxed');
    expect(booleanOption('debug', undefined, false)).toBe(false);
    const f = () => 1;
    expect(functionOption('createWorker', f)).toBe(f);
  });

  it('refuse a wrong value with InvalidArgument naming the option, what it takes and what came', () => {
    expect(refusal(() => integerOption('shards', 65, { min: 1, max: 64, default: 4 }))).toContain(
      'shards must be an integer in 1..64, got 65',
    );
    expect(refusal(() => integerOption('shards', 1.5, { min: 1, max: 64, default: 4 }))).toContain('got 1.5');
    expect(refusal(() => integerOption('retryDelayMs', '20', { min: 0, default: 20 }))).toContain('at least 0, got "20"');
    expect(refusal(() => integerOption('shards', undefined, { min: 1, max: 64 }))).toContain(
      'shards must be an integer in 1..64, got undefined',
    );
    for (const bad of [0, -1, NaN, Infinity, '5', null]) {
      expect(refusal(() => numberOption('heartbeatMs', bad, { above: 0, default: 250 }))).toContain('heartbeatMs must be a number above 0');
    }
    expect(refusal(() => numberOption('rate', 2, { above: 0, max: 1, default: 1 }))).toContain('above 0 and at most 1, got 2');
    expect(numberOption('ackDelayMs', 0, { min: 0, default: 25 })).toBe(0);
    expect(refusal(() => numberOption('ackDelayMs', -1, { min: 0, default: 25 }))).toContain(
      'ackDelayMs must be a number at least 0, got -1',
    );
    expect(refusal(() => oneOfOption('storage', 'disk', ['opfs', 'memory'], 'opfs'))).toContain(
      `storage must be 'opfs' or 'memory', got "disk"`,
    );
    expect(refusal(() => booleanOption('debug', 1, false))).toContain('debug must be true or false, got 1');
    expect(refusal(() => functionOption('createWorker', 'worker.js'))).toContain('createWorker must be a function');
  });
});
