/**
 * The plaintexts inside sync's envelopes (docs/SYNC.md §6, §9): a manifest,
 * a manifest page and a snapshot (a chunk's are in chunk-format.ts). Every decoder is a validator: it refuses anything out of
 * shape or out of bounds with a `TidalError` and never reads past its
 * bytes, because the bytes come from a store that is not trusted (even if
 * they authenticated: a device with a bug must not crash the others).
 */
import { Decoder, Encoder } from '../common/bytes.js';
import { TidalError, isTidalError } from '../common/errors.js';
import { decodeValue, encodeValue, type Value } from '../wal/payload.js';
import { ENVELOPE_OVERHEAD } from './envelope.js';

/**
 * Chunk object size (sealed) an uploader stays within: a chunk ends before the event that would take it past
 * (one event larger than that has a chunk of its own), so a full chunk is one GET (`RANGE_BYTES`).
 */
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
/** Largest chunk object a reader accepts, whatever an uploader's setting (one event may exceed the cut). */
export const MAX_CHUNK_OBJECT = 64 * 1024 * 1024;
/** Largest manifest or page read. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
/** Entries a manifest lists before the oldest half moves to a page. */
export const MANIFEST_ENTRIES = 64;
/** Largest snapshot object a reader accepts (a shard's whole CRDT state, sealed). */
export const MAX_SNAPSHOT_OBJECT = 256 * 1024 * 1024;
/** Plaintext bytes of one part of a snapshot, at most (docs/SYNC.md §9): its parts are sealed, put, read and opened each on its own. */
export const SNAPSHOT_PART_BYTES = 4 * 1024 * 1024;
/** Most parts a snapshot's manifest entry lists. */
export const MAX_SNAPSHOT_PARTS = 4096;
/** Most import cursors one snapshot carries (devices of one user). */
export const MAX_SNAPSHOT_CURSORS = 4096;

/** A chunk as a manifest lists it. */
export interface ManifestEntry {
  /** 1, 2, 3... per device and shard. */
  readonly seq: number;
  /** The object's name (64 hex digits). */
  readonly name: string;
  /** Bytes as stored (sealed). */
  readonly size: number;
  /** The LSN range of the device's log the chunk covers. */
  readonly from: number;
  readonly to: number;
}

/** One object of a snapshot: a part (envelope version 3), or the whole snapshot (versions 1 and 2). */
export interface SnapshotPart {
  /** The object's name (64 hex digits). */
  readonly name: string;
  /** Bytes as stored (sealed). */
  readonly size: number;
}

/** A device's snapshot of one shard, as its manifest lists it. */
export interface SnapshotEntry {
  /** The LSN of the device's log the snapshot's state is at. */
  readonly lsn: number;
  /** Bytes as stored (sealed), all parts. */
  readonly size: number;
  /** Its objects, in order: the plaintext is theirs, one after the other. */
  readonly parts: readonly SnapshotPart[];
}

/** How a snapshot body of `length` bytes is cut into parts of at most `most` bytes: `count` parts of `partBytes` (the last one shorter). */
export function snapshotParts(length: number, most = SNAPSHOT_PART_BYTES): { count: number; partBytes: number } {
  const count = Math.max(1, Math.ceil(length / most));
  return { count, partBytes: Math.max(1, Math.ceil(length / count)) };
}

/** A snapshot's plaintext: a shard's CRDT state at `lsn` of its device's log, and how far it merged each other device. */
export interface SnapshotBody {
  readonly lsn: number;
  /** Other device → the LSN of its log merged into `state`. */
  readonly cursors: ReadonlyMap<string, number>;
  /** `CrdtSignalState.encode()` of the shard. */
  readonly state: Uint8Array;
}

/**
 * A snapshot's plaintext as taken: its state's bytes, or the state itself (a `CrdtSignalState`), which is then
 * encoded straight into the body, behind its header, with no copy of its bytes.
 */
export interface SnapshotSource extends Omit<SnapshotBody, 'state'> {
  readonly state: Uint8Array | { encodeInto(encoder: Encoder): void };
}

/** A device's manifest of one shard: the only object sync replaces. */
export interface Manifest {
  readonly device: string;
  readonly shard: number;
  readonly shards: number;
  /** The uploader's writer epoch (its shard lock term). */
  readonly epoch: number;
  /** Grows by one with every swap. */
  readonly version: number;
  /** Last LSN of the device's log that the chunks cover (`base` when none is listed). */
  readonly lsn: number;
  /** The newest chunk's seq (0: none). */
  readonly head: number;
  readonly entries: readonly ManifestEntry[];
  /** The page that holds the entries before `entries[0]`. */
  readonly older: string | null;
  /** The chunks listed start after this LSN: what is before it is only in the snapshot (0: from the first). */
  readonly base: number;
  /** The device's newest snapshot of the shard, if it uploaded one. */
  readonly snapshot: SnapshotEntry | null;
}

/** The last LSN of its device's log a manifest covers, by chunks or by its snapshot. */
export function coveredLsn(m: Manifest): number {
  return Math.max(m.lsn, m.snapshot?.lsn ?? 0);
}

/** Entries moved out of a manifest. */
export interface ManifestPage {
  readonly entries: readonly ManifestEntry[];
  readonly older: string | null;
}

const DEVICE = /^[0-9a-f]{32}$/;
const OBJECT_NAME = /^[0-9a-f]{64}$/;

const malformed = (what: string, why: string) => new TidalError('MalformedMessage', `${what}: ${why}`);
const isCount = (v: unknown, min: number): v is number => Number.isSafeInteger(v) && (v as number) >= min;

function entryValue(e: ManifestEntry): Value {
  return { seq: e.seq, name: e.name, size: e.size, from: e.from, to: e.to };
}

function toBytes(value: Value): Uint8Array {
  const encoder = new Encoder(1024);
  encodeValue(encoder, value);
  return encoder.toBytes();
}

function fromBytes(bytes: Uint8Array, what: string): Record<string, Value> {
  let value: Value;
  try {
    const decoder = new Decoder(bytes);
    value = decodeValue(decoder);
    if (decoder.remaining !== 0) throw malformed(what, 'bytes after the value');
  } catch (error) {
    throw malformed(what, error instanceof Error ? error.message : String(error));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array)
    throw malformed(what, 'not a record');
  return value;
}

function parseEntries(value: Value | undefined, what: string): ManifestEntry[] {
  if (!Array.isArray(value) || value.length > 4 * MANIFEST_ENTRIES) throw malformed(what, 'entries must be a bounded array');
  const entries: ManifestEntry[] = [];
  for (const raw of value) {
    const e = raw as Record<string, Value>;
    if (typeof e !== 'object' || e === null) throw malformed(what, 'an entry is not a record');
    const { seq, name, size, from, to } = e as Record<string, unknown>;
    if (
      !isCount(seq, 1) ||
      typeof name !== 'string' ||
      !OBJECT_NAME.test(name) ||
      !isCount(size, 1) ||
      !isCount(from, 1) ||
      !isCount(to, 1) ||
      to < from
    ) {
      throw malformed(what, 'an entry is out of shape');
    }
    const previous = entries[entries.length - 1];
    if (previous && (seq !== previous.seq + 1 || from !== previous.to + 1))
      throw malformed(what, `entry ${seq} does not follow entry ${previous.seq}`);
    entries.push({ seq, name, size, from, to });
  }
  return entries;
}

function parseOlder(value: Value | undefined, what: string): string | null {
  if (value === null) return null;
  if (typeof value !== 'string' || !OBJECT_NAME.test(value)) throw malformed(what, 'older must be an object name or null');
  return value;
}

export function encodeManifest(m: Manifest): Uint8Array {
  return toBytes({
    v: 3,
    device: m.device,
    shard: m.shard,
    shards: m.shards,
    epoch: m.epoch,
    version: m.version,
    lsn: m.lsn,
    head: m.head,
    entries: m.entries.map(entryValue),
    older: m.older,
    base: m.base,
    snapshot: m.snapshot
      ? { lsn: m.snapshot.lsn, size: m.snapshot.size, parts: m.snapshot.parts.map((p) => ({ name: p.name, size: p.size })) }
      : null,
  });
}

/** A manifest's snapshot entry: in version 3 `{ lsn, size, parts }`, in version 2 `{ name, size, lsn }` (one object, the whole snapshot). */
function parseSnapshot(value: Value | undefined, what: string, version: number): SnapshotEntry | null {
  if (value === null) return null;
  const r = (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}) as Record<string, unknown>;
  if (version === 2) {
    const { name, size, lsn } = r;
    if (typeof name !== 'string' || !OBJECT_NAME.test(name) || !isCount(size, 1) || !isCount(lsn, 1))
      throw malformed(what, 'snapshot must be { name, size, lsn } or null');
    return { lsn, size, parts: [{ name, size }] };
  }
  const { lsn, size, parts } = r;
  if (!isCount(lsn, 1) || !isCount(size, 1) || !Array.isArray(parts) || parts.length < 1 || parts.length > MAX_SNAPSHOT_PARTS)
    throw malformed(what, `snapshot must be { lsn, size, parts: [1 to ${MAX_SNAPSHOT_PARTS} parts] } or null`);
  const listed: SnapshotPart[] = [];
  let total = 0;
  for (const part of parts as unknown[]) {
    const { name, size: bytes } = (typeof part === 'object' && part !== null ? part : {}) as Record<string, unknown>;
    // A part holds one byte of plaintext at least.
    if (typeof name !== 'string' || !OBJECT_NAME.test(name) || !isCount(bytes, ENVELOPE_OVERHEAD + 1))
      throw malformed(what, 'a snapshot part must be { name, size } of a sealed object');
    listed.push({ name, size: bytes });
    total += bytes;
  }
  if (total !== size) throw malformed(what, `snapshot's parts weigh ${total} bytes, listed at ${size}`);
  return { lsn, size, parts: listed };
}

export function decodeManifest(bytes: Uint8Array, what: string): Manifest {
  const r = fromBytes(bytes, what);
  const v = r['v'];
  if (v !== 1 && v !== 2 && v !== 3)
    throw new TidalError('UnsupportedVersion', `${what} has manifest version ${String(v)}; this build reads 1, 2 and 3`);
  const { device, shard, shards, epoch, version, lsn, head } = r as Record<string, unknown>;
  if (typeof device !== 'string' || !DEVICE.test(device)) throw malformed(what, 'device must be 32 hex digits');
  if (!isCount(shard, 0) || !isCount(shards, 1) || shard >= shards || shards > 64) throw malformed(what, 'shard out of range');
  if (!isCount(epoch, 0) || !isCount(version, 1) || !isCount(lsn, 0) || !isCount(head, 0)) throw malformed(what, 'counters out of range');
  const base = v === 1 ? 0 : r['base'];
  const snapshot = v === 1 ? null : parseSnapshot(r['snapshot'], what, v);
  if (!isCount(base, 0) || base > lsn) throw malformed(what, 'base out of range');
  // What is before the chunks listed must be in the snapshot.
  if (base > 0 && (snapshot === null || snapshot.lsn < base))
    throw malformed(what, `chunks start after LSN ${base}, and no snapshot covers it`);
  const entries = parseEntries(r['entries'], what);
  const newest = entries[entries.length - 1];
  if (newest ? newest.seq !== head || newest.to !== lsn : lsn !== base) throw malformed(what, 'head and lsn do not match the entries');
  const older = parseOlder(r['older'], what);
  const first = entries[0];
  if (first && first.from <= base) throw malformed(what, 'an entry before the base');
  if (older !== null && (!first || first.from === base + 1)) throw malformed(what, 'an older page before the first chunk');
  if (older === null && first && first.from !== base + 1)
    throw malformed(what, `chunks start at LSN ${first.from}, but nothing before it is listed`);
  return { device, shard, shards, epoch, version, lsn, head, entries, older, base, snapshot };
}

/**
 * Encodes a snapshot's plaintext: its LSN, its cursors (LEB128, devices in order), then the state's bytes. A state
 * given as itself is encoded in place, into a buffer of `capacity` bytes to start with (grown as needed): its bytes
 * are neither copied out of an encoder of its own nor into this one.
 */
export function encodeSnapshotBody(body: SnapshotSource, capacity?: number): Uint8Array {
  const state = body.state;
  const out = new Encoder(capacity ?? (state instanceof Uint8Array ? state.byteLength : 0) + 64 + body.cursors.size * 48);
  out.writeVarUint(body.lsn);
  const devices = [...body.cursors.keys()].sort();
  out.writeVarUint(devices.length);
  for (const device of devices) {
    out.writeString(device);
    out.writeVarUint(body.cursors.get(device)!);
  }
  if (state instanceof Uint8Array) out.writeRaw(state);
  else state.encodeInto(out);
  return out.bytesView(); // `out` is written no more: its view, not a second copy of the state
}

/** Decodes a snapshot's plaintext that its manifest says is at `lsn` (the state's bytes are a view; `CrdtSignalState.decode` checks them). */
export function decodeSnapshotBody(bytes: Uint8Array, lsn: number, what: string): SnapshotBody {
  try {
    const decoder = new Decoder(bytes);
    const at = decoder.readVarUint();
    if (at !== lsn) throw malformed(what, `at LSN ${at}, listed at ${lsn}`);
    const count = decoder.readVarUint();
    if (count > MAX_SNAPSHOT_CURSORS) throw malformed(what, `${count} cursors, over ${MAX_SNAPSHOT_CURSORS}`);
    const cursors = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      const device = decoder.readString();
      const upTo = decoder.readVarUint();
      if (!DEVICE.test(device) || cursors.has(device) || !isCount(upTo, 1)) throw malformed(what, 'a cursor out of shape');
      cursors.set(device, upTo);
    }
    return { lsn, cursors, state: bytes.subarray(bytes.byteLength - decoder.remaining) };
  } catch (error) {
    if (isTidalError(error, 'MalformedMessage')) throw error;
    throw malformed(what, error instanceof Error ? error.message : String(error));
  }
}

export function encodePage(page: ManifestPage): Uint8Array {
  return toBytes({ entries: page.entries.map(entryValue), older: page.older });
}

export function decodePage(bytes: Uint8Array, what: string): ManifestPage {
  const r = fromBytes(bytes, what);
  const entries = parseEntries(r['entries'], what);
  if (entries.length === 0) throw malformed(what, 'an empty page');
  return { entries, older: parseOlder(r['older'], what) };
}

export { DEVICE as DEVICE_ID_PATTERN };
