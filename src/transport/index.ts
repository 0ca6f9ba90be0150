/**
 * Transports: moving already-checksummed WAL segment bytes, and the
 * replication layer's small control messages, between replicas: in one
 * realm (`InProcessNetwork`), between workers (`MessagePortTransport`) and
 * between tabs (`BroadcastChannelTransport`). Replication code depends on
 * the `Transport` interface only.
 */
export { MAX_REPLICA_NAME_LENGTH, formatAddress, isPeerAddress, sameAddress, toPeerAddress } from './address.js';
export type { PeerAddress, TransportAddress } from './address.js';
export { TransportError } from './errors.js';
export type { TransportErrorCode } from './errors.js';
export {
  DEFAULT_MAX_CONTROL_BYTES,
  DEFAULT_MAX_QUEUED_CONTROLS,
  DEFAULT_MAX_QUEUED_SEGMENT_BYTES,
  DEFAULT_MAX_QUEUED_SEGMENTS,
  DEFAULT_MAX_SEGMENT_BYTES,
} from './transport.js';
export type {
  ControlMessage,
  DropReason,
  ReceivedSegment,
  Transport,
  TransportCounters,
  TransportOptions,
  WalSegmentPayload,
} from './transport.js';
export { WIRE_PROTOCOL } from './wire.js';
export type { ControlWireMessage, SegmentWireMessage, WireMessage } from './wire.js';
export { EndpointTransport } from './endpoint-transport.js';
export type { EndpointTransportOptions, TransportEndpoint } from './endpoint-transport.js';
export { InProcessNetwork, InProcessTransport } from './in-process.js';
export type { InProcessInterceptor } from './in-process.js';
export { withCopiedBytes, withFlippedByte, withTruncatedBytes } from './faults.js';
export { MessagePortTransport } from './message-port.js';
export type { MessagePortTransportOptions } from './message-port.js';
export { BroadcastChannelTransport } from './broadcast-channel.js';
export type { BroadcastChannelTransportOptions } from './broadcast-channel.js';
export { TransportDecorator } from './transport-decorator.js';
export { FaultyTransport, SEGMENT_FAULTS } from './faulty-transport.js';
