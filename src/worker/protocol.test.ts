import { describe, expect, it } from 'vitest';
import { newerProtocolOf, PROTOCOL_VERSION } from './protocol.js';
import { parseRpc } from './tab-rpc.js';

describe('the protocol version of tab messages', () => {
  it('a message of a newer protocol is told apart from a malformed one, and never parsed as this build’s', () => {
    const newer = { v: PROTOCOL_VERSION + 1, t: 'who', shard: 0, tab: 'a' };
    expect(newerProtocolOf(newer)).toBe(PROTOCOL_VERSION + 1);
    expect(parseRpc(newer, 0)).toBeUndefined();
    // This build's own, older ones and garbage are not "newer": they are parsed or counted as malformed.
    for (const data of [
      { v: PROTOCOL_VERSION, t: 'who', shard: 0, tab: 'a' },
      { v: PROTOCOL_VERSION - 1, t: 'who', shard: 0, tab: 'a' },
      { v: '2', t: 'who' },
      { v: 2.5 },
      { v: Number.MAX_SAFE_INTEGER + 2 },
      null,
      'v2',
      [2],
    ])
      expect(newerProtocolOf(data)).toBeUndefined();
  });
});
