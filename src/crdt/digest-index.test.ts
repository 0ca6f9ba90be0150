import { beforeAll, describe, expect, it } from 'vitest';
import { loadBlake3, type Blake3 } from '../common/blake3.js';
import { ChildSummary, EntityDigestCache, MAX_TREE_DEPTH, nodeSpan } from './digest-index.js';
import { CrdtSignalState } from './signal-state.js';

let blake3: Blake3;
beforeAll(async () => {
  blake3 = await loadBlake3();
});

function stateWith(keys: readonly string[]): CrdtSignalState {
  const s = new CrdtSignalState();
  for (const key of keys) s.apply({ op: 'increment', key, kind: 'c', by: key.length, replica: 'r' });
  return s;
}

const keys = Array.from({ length: 300 }, (_, i) => `key-${i}`);

describe('digest index', () => {
  it('sorts entities by position and splits every node into 16 children that partition it', () => {
    const index = new EntityDigestCache(blake3).index(stateWith(keys));
    expect(index.size).toBe(300);
    for (let i = 1; i < index.size; i++) expect(index.positions[i]!).toBeGreaterThanOrEqual(index.positions[i - 1]!);
    const summary = new ChildSummary();
    for (const [depth, prefix] of [
      [0, 0],
      [1, 7],
      [2, 200],
    ] as const) {
      const [start, end] = index.range(depth, prefix);
      index.summarizeChildren(depth, prefix, summary);
      expect(summary.starts[0]).toBe(start);
      expect(summary.starts[16]).toBe(end);
      let lo = 0;
      let hi = 0;
      for (let c = 0; c < 16; c++) {
        for (let i = summary.starts[c]!; i < summary.starts[c + 1]!; i++) {
          expect(Math.floor(index.positions[i]! / nodeSpan(depth + 1))).toBe(prefix * 16 + c);
        }
        lo ^= summary.digestLo[c]!;
        hi ^= summary.digestHi[c]!;
      }
      // The children's digests XOR to the parent's: the XOR of its entities' digests.
      let wantLo = 0;
      let wantHi = 0;
      for (let i = start; i < end; i++) {
        wantLo ^= index.digestLo[i]!;
        wantHi ^= index.digestHi[i]!;
      }
      expect([lo >>> 0, hi >>> 0]).toEqual([wantLo >>> 0, wantHi >>> 0]);
    }
    expect(index.range(0, 0)).toEqual([0, 300]);
    expect(MAX_TREE_DEPTH).toBe(12);
  });

  it('gives equal states equal digests whatever the insertion order, and a changed entity a new one', () => {
    const a = new EntityDigestCache(blake3).index(stateWith(keys));
    const b = new EntityDigestCache(blake3).index(stateWith([...keys].reverse()));
    expect(b.keys).toEqual(a.keys);
    expect(b.digestLo).toEqual(a.digestLo);
    expect(b.digestHi).toEqual(a.digestHi);

    const state = stateWith(keys);
    const cache = new EntityDigestCache(blake3);
    const before = cache.index(state);
    expect(cache.index(state)).toBe(before); // unchanged: reused
    state.apply({ op: 'increment', key: 'key-5', kind: 'c', by: 1, replica: 'r' });
    const after = cache.index(state);
    const i = after.keys.indexOf('key-5');
    const changed: number[] = [];
    for (let j = 0; j < after.size; j++) {
      if (after.digestLo[j] !== before.digestLo[j] || after.digestHi[j] !== before.digestHi[j]) changed.push(j);
    }
    expect(changed).toEqual([i]);
  });
});
