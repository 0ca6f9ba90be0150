import { describe, expect, it } from 'vitest';
import { ReconciliationEngine } from '../crdt/reconciliation-engine.js';
import { CrdtSignalState } from '../crdt/signal-state.js';
import { InProcessNetwork } from '../transport/in-process.js';
import { reconciliationChannel } from './reconciliation-link.js';

describe('reconciliation over a Transport', () => {
  it('brings two diverged replicas to identical state over InProcessTransports, ignoring strangers', async () => {
    const net = new InProcessNetwork();
    const a = net.connect({ shard: 1, replica: 'a' });
    const b = net.connect({ shard: 1, replica: 'b' });
    const stranger = net.connect({ shard: 1, replica: 'x' });
    const left = new CrdtSignalState();
    const right = new CrdtSignalState();
    for (let i = 0; i < 300; i++) {
      left.apply({ op: 'increment', key: `item:${i}`, kind: 'view', by: 1, replica: 'tab-a' });
      if (i % 3 === 0) right.apply({ op: 'increment', key: `item:${i}`, kind: 'view', by: 2, replica: 'tab-b' });
      if (i % 7 === 0)
        right.apply({
          op: 'set',
          key: `item:${i}`,
          field: 'label',
          value: `l${i}`,
          hlc: BigInt(1_700_000_000_000 + i) << 16n,
          replica: 'tab-b',
        });
    }
    const channelA = reconciliationChannel(a, { shard: 1, replica: 'b' });
    const channelB = reconciliationChannel(b, { shard: 1, replica: 'a' });
    await stranger.sendControl({ shard: 1, replica: 'a' }, new Uint8Array([1, 2, 3]));
    const engineA = await ReconciliationEngine.create({ state: left, channel: channelA });
    await ReconciliationEngine.create({ state: right, channel: channelB });
    const report = await engineA.reconcile();
    expect(left.encode()).toEqual(right.encode());
    expect(left.counterValue('item:0', 'view')).toBe(3);
    expect(report.rounds).toBeGreaterThan(0);
    expect(channelA.foreign).toBe(1);
    for (const t of [a, b, stranger]) t.close();
    channelA.close();
    channelB.close();
  });
});
