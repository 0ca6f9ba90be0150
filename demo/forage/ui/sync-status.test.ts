import { describe, expect, it } from 'vitest';
import type { TidalSyncStats } from '../../../src/index.js';
import { describeSync } from './sync-status.js';

const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);

type Led = Extract<TidalSyncStats['shards'][number], { led: true }>;
const shard = (shard: number, fields: Partial<Led> = {}): Led => ({
  led: true,
  shard,
  lastSyncAt: NOW - 120_000,
  lastError: undefined,
  objectsUp: 0,
  bytesUp: 0,
  objectsDown: 0,
  bytesDown: 0,
  requests: 0,
  eventsMerged: 0,
  snapshotsUp: 0,
  snapshotsMerged: 0,
  pendingLsns: 0,
  refused: {},
  objectsDeleted: 0,
  devices: 1,
  fenced: false,
  failures: 0,
  nextAt: undefined,
  ...fields,
});

function stats(shards: TidalSyncStats['shards']): TidalSyncStats {
  const led = shards.filter((s): s is Led => s.led);
  const sum = (f: 'objectsUp' | 'bytesUp' | 'objectsDown' | 'bytesDown' | 'pendingLsns') => led.reduce((n, s) => n + s[f], 0);
  return {
    device: 'd'.repeat(32),
    shards,
    objectsUp: sum('objectsUp'),
    bytesUp: sum('bytesUp'),
    objectsDown: sum('objectsDown'),
    bytesDown: sum('bytesDown'),
    pendingLsns: sum('pendingLsns'),
    lastSyncAt: led.some((s) => s.lastSyncAt === undefined) || led.length === 0 ? undefined : Math.min(...led.map((s) => s.lastSyncAt!)),
    lastError: undefined,
  };
}

describe('the Sync panel from db.sync.stats()', () => {
  it('shows the last sync, objects and bytes up and down, and what is pending', () => {
    const status = describeSync(
      stats([
        shard(0, { objectsUp: 3, bytesUp: 2048, objectsDown: 1, bytesDown: 700, pendingLsns: 4 }),
        shard(1, { objectsUp: 11, bytesUp: 16_588, lastSyncAt: NOW - 30_000, pendingLsns: 1 }),
      ]),
      NOW,
    );
    expect(status).toEqual({
      state: 'ok',
      rows: [
        { name: 'last sync', value: '2 min ago' },
        { name: 'up', value: '14 objects, 18.2 KiB' },
        { name: 'down', value: '1 object, 700 B' },
        { name: 'pending', value: '5 changes not uploaded yet' },
      ],
      errors: [],
      notes: [],
    });
  });

  it('before the first round: waiting, nothing pending in words', () => {
    const status = describeSync(stats([shard(0, { lastSyncAt: undefined })]), NOW);
    expect(status.state).toBe('waiting');
    expect(status.rows[0]).toEqual({ name: 'last sync', value: 'not yet' });
    expect(status.rows[3]).toEqual({ name: 'pending', value: 'nothing' });
  });

  it('says every error in words, by shard: a failed round with its retry, refused objects, a fenced uploader', () => {
    const status = describeSync(
      stats([
        shard(0, {
          lastError: { code: 'Unreachable', message: 'Unreachable: LIST tidal/ failed after 4 attempts (fetch failed)' },
          failures: 3,
          nextAt: NOW + 8_200,
        }),
        shard(1, { refused: { DecryptionFailed: 2, ObjectMismatch: 1 }, fenced: true }),
        shard(2, { lastError: { code: 'Unreachable', message: 'GET m/x: the store answered HTTP 403 AccessDenied' } }),
      ]),
      NOW,
    );
    expect(status.state).toBe('error');
    expect(status.errors).toEqual([
      'shard 0: the bucket cannot be reached (LIST tidal/ failed after 4 attempts (fetch failed)) (3 rounds in a row); next try in 9 s',
      'shard 1: 2 objects refused (they do not open with this key); nothing of them applied',
      'shard 1: 1 object refused (their names do not match their bytes); nothing of them applied',
      "shard 1: a newer uploader took over this device's log; this tab no longer uploads it",
      'shard 2: the bucket refused this access key (GET m/x: the store answered HTTP 403 AccessDenied)',
    ]);
  });

  it('names the shards another tab syncs', () => {
    expect(describeSync(stats([shard(0), { led: false, shard: 1 }]), NOW).notes).toEqual([
      '1 shard (1) synced by another open tab; figures here are for the rest',
    ]);
    const none = describeSync(stats([{ led: false, shard: 0 }]), NOW);
    expect(none.notes).toEqual(['another open tab syncs this database; its figures are there']);
    expect(none.rows[0]).toEqual({ name: 'last sync', value: '—' });
    expect(none.state).toBe('ok');
  });
});
