import fc from 'fast-check';
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
    // c > b stays (b got no signal); c > d is made by both rules, kept once (the first rule in position order).
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

describe('KTO and raw signal exports of the scripted session', () => {
  it('equal, line for line, what was done', () => {
    nextSignal = 100;
    const slates = [
      slate('s1', 1000, ['a', 'b', 'c']),
      slate('s2', 2000, ['a', 'd'], { kind: 'source', sourceId: 'src-x', sourceName: 'Hacker News' }),
    ];
    const signals = [
      signal('s1', 'b', 'click', 1100), // sig-100
      signal('s1', 'b', 'dismiss', 1150), // sig-101: clicked, then dismissed in the same context: false
      signal('s1', 'c', 'like', 1200), // sig-102
      signal('s2', 'a', 'like', 2100), // sig-103: another context, its own row
      signal('gone', 'e', 'click', 2200), // sig-104: a slate this tab does not hold: raw export only
    ];
    const input = { slates, signals, items: lookup };
    const feed = promptFor({ kind: 'feed' });
    const hn = promptFor({ kind: 'source', sourceId: 'src-x', sourceName: 'Hacker News' });
    expect(
      toJsonLines(ktoRows(input))
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      {
        prompt: feed,
        completion: text('b'),
        label: false,
        item_id: 'b',
        signal_id: 'sig-101',
        signal_kind: 'dismiss',
        slate_id: 's1',
        position: 1,
        at: 1150,
      },
      {
        prompt: feed,
        completion: text('c'),
        label: true,
        item_id: 'c',
        signal_id: 'sig-102',
        signal_kind: 'like',
        slate_id: 's1',
        position: 2,
        at: 1200,
      },
      {
        prompt: hn,
        completion: text('a'),
        label: true,
        item_id: 'a',
        signal_id: 'sig-103',
        signal_kind: 'like',
        slate_id: 's2',
        position: 0,
        at: 2100,
      },
    ]);
    const raw = toJsonLines(signalRows(input))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(raw.map((r) => [r.signal_id, r.kind, r.item_id, r.slate_id, r.position, r.source_id])).toEqual([
      ['sig-100', 'click', 'b', 's1', 1, 'src-b'],
      ['sig-101', 'dismiss', 'b', 's1', 1, 'src-b'],
      ['sig-102', 'like', 'c', 's1', 2, 'src-c'],
      ['sig-103', 'like', 'a', 's2', 0, 'src-a'],
      ['sig-104', 'click', 'e', 'gone', null, null],
    ]);
    expect(raw[0]).toEqual({
      signal_id: 'sig-100',
      kind: 'click',
      at: 1100,
      tab: 'tab-1',
      slate_id: 's1',
      item_id: 'b',
      position: 1,
      source_id: 'src-b',
      prompt: feed,
      title: 'Title b',
      url: 'https://example.test/b',
    });
    expect(toJsonLines([])).toBe('');
  });
});

/** Random sessions: up to 6 slates over 6 items, up to 25 signals on what they showed. */
const sessions = fc
  .record({
    slates: fc.array(
      fc.record({
        ids: fc.shuffledSubarray(['a', 'b', 'c', 'd', 'e', 'f'], { minLength: 1 }),
        context: fc.constantFrom<SlateRecord['context']>({ kind: 'feed' }, { kind: 'label', labelId: 'l', labelName: 'Rust' }),
        gap: fc.integer({ min: 0, max: 50 }),
      }),
      { minLength: 1, maxLength: 6 },
    ),
    signals: fc.array(
      fc.record({
        slate: fc.nat(),
        position: fc.nat(),
        kind: fc.constantFrom<SignalRecord['kind']>('click', 'like', 'dismiss'),
        at: fc.integer({ min: 0, max: 400 }),
      }),
      { maxLength: 25 },
    ),
  })
  .map(({ slates: drafts, signals: raw }) => {
    let at = 0;
    const slates = drafts.map((d, i) => slate(`s${i}`, (at += d.gap), d.ids, d.context));
    const signals = raw.map((r, i) => {
      const s = slates[r.slate % slates.length]!;
      const entry = s.entries[r.position % s.entries.length]!;
      return { id: `g${String(i).padStart(3, '0')}`, slateId: s.id, itemId: entry.itemId, kind: r.kind, at: s.at + r.at, tab: 't' };
    });
    return { slates, signals, items: lookup };
  });

describe('preference export properties (random sessions)', () => {
  it('every line parses with the required keys; chosen differs from rejected; no duplicates; nothing a later signal contradicts', () => {
    const made = { 'like>dismiss': 0, 'click>skip-above': 0 };
    fc.assert(
      fc.property(sessions, (input) => {
        const lines = toJsonLines(preferencePairs(input)).split('\n');
        expect(lines.pop()).toBe('');
        const seen = new Set<string>();
        for (const line of lines) {
          const pair = JSON.parse(line);
          for (const key of ['prompt', 'chosen', 'rejected']) expect(typeof pair[key]).toBe('string');
          expect(pair.chosen).not.toBe(pair.rejected);
          expect(pair.chosen_id).not.toBe(pair.rejected_id);
          expect(['like>dismiss', 'click>skip-above']).toContain(pair.rule);
          made[pair.rule as keyof typeof made]++;
          if (pair.rule === 'click>skip-above') expect(pair.rejected_position).toBeLessThan(pair.chosen_position);
          const key = JSON.stringify([pair.prompt, pair.chosen_id, pair.rejected_id]);
          expect(seen.has(key)).toBe(false);
          seen.add(key);
          for (const later of input.signals.filter((s) => s.at > pair.at)) {
            expect(later.itemId === pair.chosen_id && later.kind === 'dismiss', `later dismiss of ${pair.chosen_id}`).toBe(false);
            expect(later.itemId === pair.rejected_id && later.kind !== 'dismiss', `later ${later.kind} of ${pair.rejected_id}`).toBe(false);
          }
          // Both items were shown in that slate at those positions.
          const shown = input.slates.find((s) => s.id === pair.slate_id)!;
          expect(shown.entries[pair.chosen_position]!.itemId).toBe(pair.chosen_id);
          expect(shown.entries[pair.rejected_position]!.itemId).toBe(pair.rejected_id);
        }
      }),
      { numRuns: 300 },
    );
    // The sessions do exercise both rules.
    expect(made['like>dismiss']).toBeGreaterThan(20);
    expect(made['click>skip-above']).toBeGreaterThan(20);
  });

  it('KTO rows: one per prompt and item, labelled by its latest signal there; raw rows: one per signal', () => {
    fc.assert(
      fc.property(sessions, (input) => {
        const rows = toJsonLines(ktoRows(input))
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line));
        const keys = rows.map((r) => JSON.stringify([r.prompt, r.item_id]));
        expect(new Set(keys).size).toBe(keys.length);
        for (const row of rows) {
          expect(typeof row.prompt).toBe('string');
          expect(typeof row.completion).toBe('string');
          expect(typeof row.label).toBe('boolean');
          const context = input.slates.find((s) => s.id === row.slate_id)!.context;
          const latest = input.signals
            .filter(
              (s) => s.itemId === row.item_id && promptFor(input.slates.find((x) => x.id === s.slateId)!.context) === promptFor(context),
            )
            .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1))
            .at(-1)!;
          expect(row.signal_id).toBe(latest.id);
          expect(row.label).toBe(latest.kind !== 'dismiss');
        }
        expect(
          signalRows(input)
            .map((r) => r.signal_id)
            .sort(),
        ).toEqual(input.signals.map((s) => s.id).sort());
      }),
      { numRuns: 300 },
    );
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
