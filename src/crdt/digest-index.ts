/**
 * The digest tree the reconciliation engine compares (docs/CRDT.md,
 * "Digest tree"). Every entity has a 48-bit *position*, the first 6 bytes
 * of BLAKE3(UTF-8 key), and a 64-bit *digest*, the first 8 bytes of
 * BLAKE3(entity record). The tree splits the position space 16 ways per
 * level (4 bits), 12 levels deep; a node's digest is the XOR of the digests
 * of the entities under it. Two replicas whose node digests agree hold the
 * same entities under that node (but for a 2^-64 accident).
 *
 * An index is a snapshot: entities sorted by position, with prefix-XOR
 * arrays, so any node's range is two binary searches and its digest two
 * XORs. Entity digests are cached per state and recomputed only for
 * entities whose version changed, so indexing an unchanged state again is
 * cheap.
 *
 *     const cache = new EntityDigestCache(await loadBlake3());
 *     const index = cache.index(state);
 *     index.summarizeChildren(0, 0, summary); // 16 child counts and digests of the root
 */
import { Encoder } from '../common/bytes.js';
import type { Blake3 } from '../common/blake3.js';
import { compareStrings } from '../common/value.js';
import type { CrdtSignalState } from './signal-state.js';

/** Children per tree node. */
export const TREE_FANOUT = 16;
/** Bits of position each level consumes. */
export const TREE_LEVEL_BITS = 4;
/** Bits of an entity's position. */
export const POSITION_BITS = 48;
/** Depth of the deepest nodes (their position prefix is all 48 bits). */
export const MAX_TREE_DEPTH = POSITION_BITS / TREE_LEVEL_BITS;

const textEncoder = new TextEncoder();

interface CachedEntity {
  readonly key: string;
  /** 48-bit position, 0..2^48-1 (exact in a double). */
  readonly position: number;
  /** Entity version the digest was computed for (-1: never). */
  version: number;
  digestLo: number;
  digestHi: number;
}

/** Width of the position range under a node of `depth`. */
export function nodeSpan(depth: number): number {
  return 2 ** (POSITION_BITS - TREE_LEVEL_BITS * depth);
}

/** Number of distinct prefixes at `depth` (16^depth). */
export function prefixesAt(depth: number): number {
  return 2 ** (TREE_LEVEL_BITS * depth);
}

/** Per-state cache of entity positions and digests, and the index built from them. */
export class EntityDigestCache {
  private readonly blake3: Blake3;
  private readonly entries = new Map<string, CachedEntity>();
  private readonly encoder = new Encoder(1024);
  private keyBuffer = new Uint8Array(3 * 1024);
  private lastIndex: DigestIndex | undefined;
  private lastIndexedChange = -1;
  private lastState: CrdtSignalState | undefined;

  constructor(blake3: Blake3) {
    this.blake3 = blake3;
  }

  /** The UTF-8 bytes of `key`, in a reused buffer (ASCII by hand: a TextEncoder call per key is slow in browsers). */
  private keyBytes(key: string): Uint8Array {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (this.keyBuffer.length < key.length * 3) this.keyBuffer = new Uint8Array(key.length * 3);
    const buffer = this.keyBuffer;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c >= 0x80) return buffer.subarray(0, textEncoder.encodeInto(key, buffer).written);
      buffer[i] = c;
    }
    return buffer.subarray(0, key.length);
  }

  /** A snapshot index of `state` (reused while the state has not changed). */
  index(state: CrdtSignalState): DigestIndex {
    if (this.lastIndex && this.lastState === state && this.lastIndexedChange === state.changeCount) return this.lastIndex;
    if (this.lastState !== state) this.entries.clear();
    const records: CachedEntity[] = new Array(state.size);
    let n = 0;
    for (const [key, entity] of state.entityEntries()) {
      let cached = this.entries.get(key);
      if (!cached) {
        const h = this.blake3.hash(this.keyBytes(key));
        const position = h[0]! + h[1]! * 2 ** 8 + h[2]! * 2 ** 16 + h[3]! * 2 ** 24 + h[4]! * 2 ** 32 + h[5]! * 2 ** 40;
        cached = { key, position, version: -1, digestLo: 0, digestHi: 0 };
        this.entries.set(key, cached);
      }
      if (cached.version !== entity.version) {
        this.encoder.length = 0;
        entity.writeTo(this.encoder, key);
        const d = this.blake3.hash(this.encoder.bytesView());
        cached.digestLo = (d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24)) >>> 0;
        cached.digestHi = (d[4]! | (d[5]! << 8) | (d[6]! << 16) | (d[7]! << 24)) >>> 0;
        cached.version = entity.version;
      }
      records[n++] = cached;
    }
    records.sort((a, b) => a.position - b.position || compareStrings(a.key, b.key));
    this.lastIndex = new DigestIndex(records);
    this.lastIndexedChange = state.changeCount;
    this.lastState = state;
    return this.lastIndex;
  }
}

/** Where `summarizeChildren` writes: per child, its index range, count and digest. */
export class ChildSummary {
  /** `starts[c]..starts[c + 1]` is child c's index range. */
  readonly starts = new Int32Array(TREE_FANOUT + 1);
  readonly digestLo = new Uint32Array(TREE_FANOUT);
  readonly digestHi = new Uint32Array(TREE_FANOUT);

  /** Entities under child `c`. */
  count(c: number): number {
    return this.starts[c + 1]! - this.starts[c]!;
  }

  /** Bit c set when child c has entities. */
  nonEmptyMask(): number {
    let mask = 0;
    for (let c = 0; c < TREE_FANOUT; c++) if (this.starts[c + 1]! > this.starts[c]!) mask |= 1 << c;
    return mask;
  }
}

/** A sorted snapshot of a state's entity positions and digests. */
export class DigestIndex {
  /** Number of entities. */
  readonly size: number;
  /** Entity keys in position order. */
  readonly keys: readonly string[];
  /** Positions, ascending. */
  readonly positions: Float64Array;
  readonly digestLo: Uint32Array;
  readonly digestHi: Uint32Array;
  /** XOR of digests [0, i) at index i (length size + 1). */
  private readonly prefixLo: Uint32Array;
  private readonly prefixHi: Uint32Array;

  constructor(sorted: readonly CachedEntity[]) {
    const n = sorted.length;
    this.size = n;
    this.keys = sorted.map((e) => e.key);
    this.positions = new Float64Array(n);
    this.digestLo = new Uint32Array(n);
    this.digestHi = new Uint32Array(n);
    this.prefixLo = new Uint32Array(n + 1);
    this.prefixHi = new Uint32Array(n + 1);
    for (let i = 0; i < n; i++) {
      const e = sorted[i]!;
      this.positions[i] = e.position;
      this.digestLo[i] = e.digestLo;
      this.digestHi[i] = e.digestHi;
      this.prefixLo[i + 1] = this.prefixLo[i]! ^ e.digestLo;
      this.prefixHi[i + 1] = this.prefixHi[i]! ^ e.digestHi;
    }
  }

  /** First index in [from, to) whose position is >= `position` (or `to`). */
  private lowerBound(position: number, from: number, to: number): number {
    let lo = from;
    let hi = to;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.positions[mid]! < position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The index range [start, end) of the entities under node (`depth`, `prefix`). */
  range(depth: number, prefix: number): [number, number] {
    const span = nodeSpan(depth);
    const first = prefix * span;
    const start = this.lowerBound(first, 0, this.size);
    return [start, this.lowerBound(first + span, start, this.size)];
  }

  /** Fills `out` with the ranges and digests of the 16 children of node (`depth`, `prefix`); `depth` < MAX_TREE_DEPTH. */
  summarizeChildren(depth: number, prefix: number, out: ChildSummary): void {
    const span = nodeSpan(depth + 1);
    const base = prefix * TREE_FANOUT * span;
    const [start, end] = this.range(depth, prefix);
    let at = start;
    out.starts[0] = start;
    for (let c = 0; c < TREE_FANOUT; c++) {
      const next = c === TREE_FANOUT - 1 ? end : this.lowerBound(base + (c + 1) * span, at, end);
      out.starts[c + 1] = next;
      out.digestLo[c] = this.prefixLo[next]! ^ this.prefixLo[at]!;
      out.digestHi[c] = this.prefixHi[next]! ^ this.prefixHi[at]!;
      at = next;
    }
  }

  /** Tag of entity i: the low 32 bits of its position (pairs up the two sides' versions of a key at a leaf). */
  tag(i: number): number {
    return this.positions[i]! % 2 ** 32;
  }
}
