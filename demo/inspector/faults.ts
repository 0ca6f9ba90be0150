/** Fault injection from the page: kill a shard's worker, corrupt the next payload a leader ships. */
import type { TidalDb } from '../../src/index.js';
import { logLine, reportError } from './log.js';
import { ui } from './page.js';
import type { ShardRow } from './shards.js';

function faultShard(): number {
  return Number(ui.faultShard.value);
}

export function killWorker(db: TidalDb): void {
  const shard = faultShard();
  try {
    db.debug!.killWorker(shard); // opened with { debug: true }
    logLine(`killed shard ${shard}'s worker in this tab: watch it restart and recover`);
  } catch (error) {
    reportError(`killing shard ${shard}'s worker failed`, error);
  }
}

export async function corruptNextPayload(db: TidalDb): Promise<void> {
  const shard = faultShard();
  try {
    await db.debug!.corruptNextPayload(shard);
    logLine(`the next payload shard ${shard} ships from this tab carries a flipped byte (the next write to the shard sends it)`);
  } catch (error) {
    reportError(`corrupting shard ${shard}'s next payload failed`, error);
  }
}

/** Only the tab that leads a shard ships its payloads, so only there can the next one be corrupted. */
export function updateCorruptButton(rows: readonly ShardRow[]): void {
  const shard = faultShard();
  const role = rows[shard]?.last?.role;
  ui.corrupt.disabled = role !== 'leader';
  ui.corrupt.title =
    role === 'leader'
      ? `Flip a byte in the next payload this tab ships as shard ${shard}'s leader`
      : `This tab does not lead shard ${shard}: corrupt its payloads in the tab that leads it`;
}
