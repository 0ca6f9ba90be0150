/**
 * One tab of a peers run (`tab.html?role=…&system=…&run=…`), opened by the
 * peers suite through the bench runner (a real tab of the bench's browser
 * context, its own renderer process). It opens the system under test as
 * its writer or its reader and follows the protocol in `protocol.ts`.
 *
 * The writer's clock runs from its first write until the reader's
 * `converged` arrives. The reader, once told where the writer's state is,
 * polls every millisecond until it has caught up, then reads its whole
 * state back and compares its checksum with the reference it computed from
 * the events beforehand; a mismatch is a failure, never a figure.
 */
import { Unsupported, controlChannel, nextMessage, ALL_SYSTEMS, type ControlMessage, type Role, type SystemName } from './protocol.js';
import { raw } from './raw.js';
import type { PeerContext, PeerSystem } from './system.js';
import { tidal } from './tidal.js';
import { tinybase } from './tinybase.js';
import { checksumOf, referenceState, signalEvents } from './workload.js';
import { yjs } from './yjs.js';

const systems: Record<SystemName, PeerSystem> = {
  tidal_batched: tidal('batched'),
  tidal_per_call: tidal('per_call'),
  tidal_batched_awaited: tidal('batched_awaited'),
  yjs_tx1000: yjs(1_000),
  yjs_per_event: yjs(1),
  tinybase_tx1000: tinybase(1_000),
  tinybase_per_event: tinybase(1),
  raw_json1000: raw,
  tidal_batched_shards1: tidal('batched', 1),
  tidal_batched_shards2: tidal('batched', 2),
  tidal_per_call_shards1: tidal('per_call', 1),
  tidal_per_call_shards2: tidal('per_call', 2),
};

/** How long a run may take from `go` until converged, before the reader gives up. */
const CONVERGE_LIMIT_MS = 240_000;
/** How long a tab waits for the suite's next step. */
const STEP_LIMIT_MS = 300_000;
const POLL_MS = 1;

const now = () => performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function writer(control: BroadcastChannel, system: PeerSystem, context: PeerContext): Promise<void> {
  const events = signalEvents();
  const writer = await system.openWriter(context);
  post(control, { type: 'ready', role: 'writer', info: writer.info });
  await nextMessage(control, 'go', STEP_LIMIT_MS);
  const started = now();
  await writer.write(events);
  const written = now();
  const converged = nextMessage(control, 'converged', CONVERGE_LIMIT_MS, 'reader');
  post(control, { type: 'written', position: await writer.position() });
  await converged;
  const replicated = now();
  post(control, { type: 'result', writtenMs: written - started, replicatedMs: replicated - started });
  await closeRequested(control, 'writer');
  await writer.close();
  post(control, { type: 'closed', role: 'writer' });
}

async function reader(control: BroadcastChannel, system: PeerSystem, context: PeerContext): Promise<void> {
  const expected = checksumOf(referenceState(signalEvents()));
  const reader = await system.openReader(context);
  post(control, { type: 'ready', role: 'reader', info: '' });
  const { position } = await nextMessage(control, 'written', STEP_LIMIT_MS, 'writer');
  const deadline = now() + CONVERGE_LIMIT_MS;
  while (!(await reader.reached(position))) {
    if (now() > deadline)
      throw new Error(`did not converge: the reader had not reached the writer's position after ${CONVERGE_LIMIT_MS} ms`);
    await sleep(POLL_MS);
  }
  const state = checksumOf(await reader.entities());
  if (state.checksum !== expected.checksum) {
    throw new Error(
      `did not converge: having reached the writer's position, the reader holds ${state.entities} entities with checksum ${state.checksum}; the events make ${expected.entities} with checksum ${expected.checksum}`,
    );
  }
  post(control, { type: 'converged' });
  post(control, { type: 'wire', bytes: await reader.wireBytes() });
  await closeRequested(control, 'reader');
  await reader.close();
  post(control, { type: 'closed', role: 'reader' });
}

/** Resolves when the suite asks `role` to close. */
async function closeRequested(control: BroadcastChannel, role: Role): Promise<void> {
  for (;;) if ((await nextMessage(control, 'close', STEP_LIMIT_MS)).role === role) return;
}

function post(control: BroadcastChannel, message: ControlMessage): void {
  control.postMessage(message);
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const role = params.get('role') as Role;
  const name = params.get('system') as SystemName;
  const run = params.get('run') ?? '';
  const control = new BroadcastChannel(controlChannel(run));
  try {
    if (role !== 'writer' && role !== 'reader') throw new Error(`role must be writer or reader, got ${String(role)}`);
    if (!ALL_SYSTEMS.includes(name)) throw new Error(`unknown system ${String(name)}`);
    if (!/^[a-z0-9-]{1,64}$/.test(run)) throw new Error(`run id ${JSON.stringify(run)} is not 1..64 of a-z 0-9 -`);
    const context: PeerContext = { run, writerInfo: params.get('writer') ?? '' };
    await (role === 'writer' ? writer : reader)(control, systems[name], context);
  } catch (error) {
    if (error instanceof Unsupported) post(control, { type: 'unsupported', role, reason: error.message });
    else post(control, { type: 'failed', role, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
}

void main();
