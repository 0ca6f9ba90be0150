/**
 * The peers suite's workload and its reference: the signal workload of the
 * db suite (80 % counter increments over 4 kinds, 20 % label sets, over 10k
 * entities `item-0` .. `item-9999`, from a seeded `mulberry32`), and the
 * state it must leave, as a checksum every system's reader is compared with.
 *
 *     const events = signalEvents();
 *     const expected = checksumOf(referenceState(events));
 *     // ... later, in a reader: checksumOf(await reader.entities()) === expected
 *
 * The state is written down canonically (entities in key order, each its
 * four counters, 0 for none, and its label) and hashed with two 32-bit
 * multiplicative hashes over that text (53 bits kept), so that two states
 * agree on the checksum only if they agree on every entity.
 */
import { mulberry32 } from '../../../src/common/random.js';

export const EVENTS = 100_000;
export const ENTITIES = 10_000;
export const SEED = 0x5eed;
export const KINDS = ['view', 'click', 'save', 'skip'] as const;
const LABELS = ['cats', 'dogs', 'news', 'music', 'sports', 'science', 'art', 'travel'] as const;

export type Kind = (typeof KINDS)[number];

/** One write of the workload. */
export type SignalEvent =
  | { readonly op: 'increment'; readonly key: string; readonly kind: Kind }
  | { readonly op: 'set'; readonly key: string; readonly label: string };

/** An entity as every reader gives it back: its counters (absent: 0) and its label. */
export interface EntityState {
  readonly key: string;
  readonly counters: Readonly<Partial<Record<Kind, number>>>;
  readonly label: string | undefined;
}

/** The workload: `events` writes from `seed` (the same sequence as the db suite's `signalWorkload`). */
export function signalEvents(events = EVENTS, seed = SEED): SignalEvent[] {
  const random = mulberry32(seed);
  const list: SignalEvent[] = [];
  for (let i = 0; i < events; i++) {
    const key = `item-${Math.floor(random() * ENTITIES)}`;
    if (random() < 0.8) list.push({ op: 'increment', key, kind: KINDS[Math.floor(random() * KINDS.length)]! });
    else list.push({ op: 'set', key, label: LABELS[Math.floor(random() * LABELS.length)]! });
  }
  return list;
}

/** The state `events` leave, applied in order by one writer (the last label set wins), computed plainly. */
export function referenceState(events: readonly SignalEvent[]): EntityState[] {
  const entities = new Map<string, { counters: Partial<Record<Kind, number>>; label: string | undefined }>();
  for (const event of events) {
    let entity = entities.get(event.key);
    if (!entity) entities.set(event.key, (entity = { counters: {}, label: undefined }));
    if (event.op === 'increment') entity.counters[event.kind] = (entity.counters[event.kind] ?? 0) + 1;
    else entity.label = event.label;
  }
  return [...entities].map(([key, { counters, label }]) => ({ key, counters, label }));
}

/** The checksum of a whole state (order of `entities` does not matter) and how many entities it has. */
export function checksumOf(entities: Iterable<EntityState>): { checksum: string; entities: number } {
  const lines: string[] = [];
  for (const { key, counters, label } of entities) {
    lines.push(`${key}\t${KINDS.map((kind) => counters[kind] ?? 0).join('\t')}\t${label ?? ''}`);
  }
  lines.sort();
  return { checksum: hash53(lines.join('\n')).toString(16), entities: lines.length };
}

/** cyrb53: two 32-bit multiplicative hashes of the UTF-16 code units, mixed into 53 bits. */
function hash53(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
