/**
 * `DetachProbe`: a test-only `Transport` decorator that proves the
 * zero-copy hand-over of segment buffers. It records every `ArrayBuffer`
 * the code above it (a `WalShipper`) passes to `sendSegment` and, once the
 * call resolves, checks that the caller's buffer is detached
 * (`byteLength === 0`): the bytes were transferred, not copied, and the
 * sender can no longer touch them.
 *
 *     const probe = new DetachProbe(new MessagePortTransport(port, { local, remote }));
 *     const shipper = new WalShipper({ wal, transport: probe, followers: [remote] });
 *     // ... later
 *     probe.report(); // { sent, detached, notDetached: [] }
 *
 * Not part of the library.
 */
import type { TransportAddress } from '../../transport/address.js';
import { TransportDecorator } from '../../transport/transport-decorator.js';
import type { WalSegmentPayload } from '../../transport/transport.js';

/** What a `DetachProbe` saw. */
export interface DetachReport {
  /** Segments whose `sendSegment` resolved. */
  readonly sent: number;
  /** Of those, how many left the caller's buffer detached. */
  readonly detached: number;
  /** Bytes the caller handed over in those segments (their size before the call). */
  readonly bytes: number;
  /** Segments whose buffer was still attached (or empty) after the call, as `<segment file name>: <byteLength> of <size> bytes` (at most 20 kept). */
  readonly notDetached: readonly string[];
  /** Sends that rejected (the buffer then stays with the caller, by contract). */
  readonly rejected: number;
  /** Of the segments sent, how many were whole WAL segments (starting with the segment magic `TDLS`) rather than runs of batches. */
  readonly wholeSegments: number;
}

/** A `Transport` decorator that checks every sent segment buffer is detached once sent. */
export class DetachProbe extends TransportDecorator {
  private sent = 0;
  private detached = 0;
  private bytes = 0;
  private rejected = 0;
  private wholeSegments = 0;
  private readonly notDetached: string[] = [];

  override async sendSegment(to: TransportAddress, payload: WalSegmentPayload): Promise<void> {
    const buffer = payload.bytes;
    const size = buffer.byteLength;
    const head = new Uint8Array(buffer, 0, Math.min(4, size));
    const whole = head.length === 4 && head[0] === 0x54 && head[1] === 0x44 && head[2] === 0x4c && head[3] === 0x53; // 'TDLS'
    try {
      await this.inner.sendSegment(to, payload);
    } catch (error) {
      this.rejected++;
      throw error;
    }
    this.sent++;
    this.bytes += size;
    if (whole) this.wholeSegments++;
    // A buffer that had bytes and now reports none was transferred (an empty one proves nothing: it counts as not detached).
    if (size > 0 && buffer.byteLength === 0) this.detached++;
    else if (this.notDetached.length < 20) this.notDetached.push(`${payload.id.fileName()}: ${buffer.byteLength} of ${size} bytes`);
  }

  /** What the probe saw so far. */
  report(): DetachReport {
    return {
      sent: this.sent,
      detached: this.detached,
      bytes: this.bytes,
      rejected: this.rejected,
      wholeSegments: this.wholeSegments,
      notDetached: [...this.notDetached],
    };
  }
}
