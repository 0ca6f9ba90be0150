/**
 * Sync against a real distributed object store: Ceph's RADOS Gateway,
 * brought up on loopback by scripts/ceph.mjs for this file (one monitor,
 * one OSD, one gateway) and stopped at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCeph, type CephCluster } from '../../scripts/ceph.mjs';
import { S3Remote } from './s3-remote.js';
import { remoteContract } from './testing/remote-contract.js';

let cluster: CephCluster;
let remote: S3Remote;

beforeAll(async () => {
  cluster = await startCeph({ nodes: 1 });
  remote = new S3Remote({ ...cluster, endpoints: cluster.endpoints });
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

remoteContract('S3Remote on Ceph RGW', () => remote);

describe('S3Remote on Ceph RGW', () => {
  it('fails over from an endpoint that does not answer to one that does', async () => {
    // A port nothing listens on (the discard port on loopback), then the real gateway.
    const failover = new S3Remote({ ...cluster, endpoints: ['http://127.0.0.1:9', ...cluster.endpoints], backoffMs: 10 });
    const key = `failover/${crypto.randomUUID()}`;
    expect((await failover.putIfAbsent(key, new Uint8Array([1, 2, 3]))).ok).toBe(true);
    expect((await failover.get(key, { maxBytes: 16 }))?.bytes).toEqual(new Uint8Array([1, 2, 3]));
    expect(failover.counters.failovers).toBe(1);
  });

  it('reports Unreachable, with the status, for a bucket it may not use', async () => {
    const stranger = new S3Remote({ ...cluster, endpoints: cluster.endpoints, secretAccessKey: 'not-the-secret' });
    await expect(stranger.get('x', { maxBytes: 16 })).rejects.toMatchObject({ code: 'Unreachable', details: { status: 403 } });
  });
});
