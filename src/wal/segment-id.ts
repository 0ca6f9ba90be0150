/**
 * `WalSegmentId { shard, seq }` names one segment file of a shard's log.
 * Its file name is `<shard as 4 hex digits>-<seq as 16 hex digits>.wal`
 * (lower-case), e.g. `0003-000000000000002a.wal`, so that file names sort
 * in log order.
 *
 *     const id = new WalSegmentId(3, 42n);
 *     id.fileName();                       // '0003-000000000000002a.wal'
 *     WalSegmentId.parse('0003-000000000000002a.wal').seq; // 42n
 */
import { TidalError } from '../common/errors.js';
import { assertShardId, type ShardId } from '../shard/shard-id.js';

const NAME = /^([0-9a-f]{4})-([0-9a-f]{16})\.wal$/;
const MAX_SEQ = (1n << 64n) - 1n;

/** The identity of one WAL segment: its shard and its sequence number in that shard's log. */
export class WalSegmentId {
  /** The shard whose log the segment belongs to. */
  readonly shard: ShardId;
  /** The segment's position in that log, from 0; a u64, so a `bigint`. */
  readonly seq: bigint;

  /** Names segment `seq` of `shard`; refuses a bad shard or a `seq` outside u64 with `InvalidArgument`. */
  constructor(shard: ShardId, seq: bigint) {
    this.shard = assertShardId(shard);
    if (typeof seq !== 'bigint' || seq < 0n || seq > MAX_SEQ) {
      throw new TidalError('InvalidArgument', `segment seq must be a u64 bigint, got ${String(seq)}`);
    }
    this.seq = seq;
  }

  /** Parses a segment file name; anything else is refused with `InvalidSegmentName`. */
  static parse(name: string): WalSegmentId {
    const match = typeof name === 'string' ? NAME.exec(name) : null;
    if (!match) {
      throw new TidalError(
        'InvalidSegmentName',
        `${JSON.stringify(name)} is not a segment file name (expected <4 hex>-<16 hex>.wal, lower-case, e.g. 0003-000000000000002a.wal)`,
      );
    }
    return new WalSegmentId(Number.parseInt(match[1]!, 16), BigInt(`0x${match[2]!}`));
  }

  /** True when `name` is a well-formed segment file name. */
  static isName(name: string): boolean {
    return NAME.test(name);
  }

  /** The segment's file name, e.g. `0003-000000000000002a.wal`; names sort in log order. */
  fileName(): string {
    return `${this.shard.toString(16).padStart(4, '0')}-${this.seq.toString(16).padStart(16, '0')}.wal`;
  }

  /** The segment that follows this one in the same shard's log. */
  next(): WalSegmentId {
    return new WalSegmentId(this.shard, this.seq + 1n);
  }

  /** True when both name the same segment (same shard and seq). */
  equals(other: WalSegmentId): boolean {
    return this.shard === other.shard && this.seq === other.seq;
  }

  /** The file name, so that an id reads well in messages and logs. */
  toString(): string {
    return this.fileName();
  }
}
