/**
 * Object names (docs/SYNC.md §3, §4): an object of chunk version 3, page
 * version 2 or snapshot version 2 is named by the keyed BLAKE3 of its
 * header, nonce and tag alone (golden bytes); older versions by all their
 * bytes, as they were stored.
 */
import { describe, expect, it } from 'vitest';
import { ENVELOPE_OVERHEAD, namedByTag, namedParts } from './envelope.js';
import { SyncKeys } from './sync-key.js';

/** An envelope as stored, by hand: header (TDSE, version, kind, 0, 0), nonce 0..11, `body` ciphertext bytes, tag 0xa0..0xaf. */
function envelope(version: number, kind: number, body: number[]): Uint8Array {
  const nonce = Array.from({ length: 12 }, (_, i) => i);
  const tag = Array.from({ length: 16 }, (_, i) => 0xa0 + i);
  return new Uint8Array([0x54, 0x44, 0x53, 0x45, version, kind, 0, 0, ...nonce, ...body, ...tag]);
}

describe('object names', () => {
  it('a chunk of version 3 is named by its header, nonce and tag (golden bytes); its ciphertext is not hashed', async () => {
    const keys = await SyncKeys.from(new Uint8Array(32).fill(7));
    const sealed = envelope(3, 1, [1, 2, 3, 4, 5]);
    expect(sealed.byteLength).toBe(ENVELOPE_OVERHEAD + 5);
    expect(namedByTag(sealed)).toBe(true);
    expect(Buffer.concat(namedParts(sealed)).toString('hex')).toBe(
      '5444534503010000' + '000102030405060708090a0b' + 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf',
    );
    expect(keys.objectName(sealed)).toBe('13766eddd9b22231fbefd30ea46470113db070255455af6e6e4dc6221ce21790');
    // The keyed BLAKE3 of those 36 bytes, and the same name whatever the ciphertext.
    const stream = keys.objectNameStream();
    stream.update(Buffer.concat(namedParts(sealed)));
    expect(stream.name()).toBe(keys.objectName(sealed));
    expect(keys.objectName(envelope(3, 1, [9, 9, 9]))).toBe(keys.objectName(sealed));
  });

  it('older versions, and a manifest, are named by all their bytes', async () => {
    const keys = await SyncKeys.from(new Uint8Array(32).fill(7));
    for (const [version, kind, byTag] of [
      [1, 1, false],
      [2, 1, false],
      [3, 1, true],
      [1, 3, false],
      [2, 3, true],
      [1, 4, false],
      [2, 4, true],
      [1, 2, false],
    ] as const) {
      const sealed = envelope(version, kind, [1, 2, 3, 4, 5]);
      expect([version, kind, namedByTag(sealed)]).toEqual([version, kind, byTag]);
      const all = keys.objectNameStream();
      all.update(sealed);
      expect(keys.objectName(sealed) === all.name()).toBe(!byTag);
    }
    expect(keys.objectName(envelope(2, 1, [1, 2, 3, 4, 5]))).toBe('8914db116e90b5482a852db5d15cf6d1c42941b1075389eb24444a315ae3eae1');
    // Shorter than an envelope, or not one: all its bytes.
    expect(namedParts(new Uint8Array([0x54, 0x44, 0x53, 0x45, 3, 1, 0, 0]))).toHaveLength(1);
    expect(namedByTag(new Uint8Array(64))).toBe(false);
  });
});
