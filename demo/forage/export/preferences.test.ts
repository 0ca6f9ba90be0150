import { describe, expect, it } from 'vitest';
import { isTidalError } from '../../../src/index.js';
import { ktoRows, preferencePairs, promptFor, signalRows, toJsonLines, type ExportItem } from './preferences.js';
import { parseSignalRecord, parseSlateRecord, type SignalRecord, type SlateRecord } from './records.js';

const items = new Map<string, ExportItem>(
  ['a', 'b', 'c', 'd', 'e'].map((id) => [id, { title: `Title ${id}`, summary: `Summary of ${id}.`, url: `https://example.test/${id}` }]),
);
const lookup = (id: string) => items.get(id);
const text = (id: string) => `Title ${id}\n\nSummary of ${id}.`;

/** A slate of `ids` at `at` in the main feed. */
function slate(id: string, at: number, ids: string[], context: SlateRecord['context'] = { kind: 'feed' }): SlateRecord {
  return { id, at, tab: 'tab-1', context, entries: ids.map((itemId, position) => ({ itemId, sourceId: `src-${itemId}`, position })) };
}
let nextSignal = 0;
function signal(slateId: string, itemId: string, kind: SignalRecord['kind'], at: number): SignalRecord {
  return { id: `sig-${String(nextSignal++).padStart(3, '0')}`, slateId, itemId, kind, at, tab: 'tab-1' };
}

describe('preference export of a scripted session', () => {
  it('equals, line for line, what was done', () => {
    // Slate 1, feed: a b c d. The user clicks c (skipping a and b), likes c, dismisses d.
    // Slate 2, label "Rust": e a. The user dismisses e, likes a.
    const slates = [
      slate('s1', 1000, ['a', 'b', 'c', 'd']),
      slate('s2', 2000, ['e', 'a'], { kind: 'label', labelId: 'l1', labelName: 'Rust' }),
    ];
    const signals = [
      signal('s1', 'c', 'click', 1100),
      signal('s1', 'c', 'like', 1200),
      signal('s1', 'd', 'dismiss', 1300),
      signal('s2', 'e', 'dismiss', 2100),
      signal('s2', 'a', 'like', 2200),
    ];
    const input = { slates, signals, items: lookup };
    const feed = promptFor({ kind: 'feed' });
    const rust = promptFor({ kind: 'label', labelId: 'l1', labelName: 'Rust' });
    expect(rust).toContain('labelled "Rust"');

    const pairs = toJsonLines(preferencePairs(input)).split('\n');
    expect(pairs.pop()).toBe('');
    // c > a (slate 1) is left out: a was liked later (slate 2), which contradicts it.
    expect(pairs.map((line) => JSON.parse(line))).toEqual([
      {
        prompt: feed,
        chosen: text('c'),
        rejected: text('b'),
        slate_id: 's1',
        rule: 'click>skip-above',
        chosen_id: 'c',
        rejected_id: 'b',
        chosen_position: 2,
        rejected_position: 1,
        at: 1100,
      },
      {
        prompt: feed,
        chosen: text('c'),
        rejected: text('d'),
        slate_id: 's1',
        rule: 'like>dismiss',
        chosen_id: 'c',
        rejected_id: 'd',
        chosen_position: 2,
        rejected_position: 3,
        at: 1300,
      },
      {
        prompt: rust,
        chosen: text('a'),
        rejected: text('e'),
        slate_id: 's2',
        rule: 'like>dismiss',
        chosen_id: 'a',
        rejected_id: 'e',
        chosen_position: 1,
        rejected_position: 0,
        at: 2200,
      },
    ]);
  });
});

describe('records', () => {
  it('parse back what was stored and refuse malformed records, naming the field', () => {
    const record = slate('s1', 5, ['a', 'b']);
    expect(parseSlateRecord(JSON.parse(JSON.stringify(record)))).toEqual(record);
    const bad: [unknown, string][] = [
      [{ ...record, entries: [{ itemId: 'a', sourceId: 'x', position: 1 }] }, 'slate.entries[0].position'],
      [{ ...record, entries: [record.entries[0], { ...record.entries[0], position: 1 }] }, 'slate.entries[1].itemId'],
      [{ ...record, at: -1 }, 'slate.at'],
      [{ ...record, context: { kind: 'nope' } }, 'slate.context.kind'],
      [{ ...record, id: '' }, 'slate.id'],
    ];
    for (const [value, field] of bad) {
      try {
        parseSlateRecord(value);
        expect.unreachable();
      } catch (error) {
        expect(isTidalError(error, 'InvalidArgument')).toBe(true);
        expect((error as Error).message).toContain(field);
      }
    }
    expect(() => parseSignalRecord({ ...signal('s', 'a', 'like', 1), kind: 'love' })).toThrow(/signal\.kind/);
  });
});
