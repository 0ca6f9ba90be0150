import { describe, expect, it } from 'vitest';
import { isTidalError } from '../common/errors.js';
import { mulberry32 } from '../common/random.js';
import { MemoryRemote } from './memory-remote.js';
import { remoteContract } from './testing/remote-contract.js';

const store = new MemoryRemote();
remoteContract('MemoryRemote', () => store);

// Latency drawn at random reorders concurrent requests; the conditional semantics hold regardless.
const jittery = new MemoryRemote({ random: mulberry32(11), latencyMs: [0, 5] });
remoteContract('MemoryRemote with random latency', () => jittery);

describe('MemoryRemote faults', () => {
  it('a lost request changes nothing; a lost answer was applied', async () => {
    let next = 0;
    const script = [0.1, 0.9, 0.1]; // 1st request: lost; 2nd: reaches the store, its answer is lost
    const remote = new MemoryRemote({ random: () => script[next++ % script.length]!, loss: 0.5, answerLoss: 0.5 });
    const lost = await remote.putIfAbsent('k', new Uint8Array([1])).catch((e: unknown) => e);
    expect(isTidalError(lost, 'Unreachable')).toBe(true);
    expect(remote.keys()).toEqual([]);
    const unheard = await remote.putIfAbsent('k', new Uint8Array([1])).catch((e: unknown) => e);
    expect(isTidalError(unheard, 'Unreachable')).toBe(true);
    expect(remote.keys()).toEqual(['k']);
  });
});
