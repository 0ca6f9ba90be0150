/** The shards table: per shard, this tab's role, the leader, LSNs, lag, segments, verification and restarts. */
import type { ShardStats, TidalStats } from '../../src/index.js';
import { el } from '../dom.js';
import { bump, formatBytes, setText, shortTab } from './format.js';
import { reportError } from './log.js';
import { ui } from './page.js';

/** The cells of one shard's row, updated in place. */
export interface ShardRow {
  role: HTMLElement;
  leaderTab: HTMLElement;
  lsn: HTMLElement;
  appliedLsn: HTMLElement;
  lagLsns: HTMLElement;
  lagMs: HTMLElement;
  segments: HTMLElement;
  bytesVerified: HTMLElement;
  payloadsRejected: HTMLElement;
  restarts: HTMLElement;
  last: ShardStats | undefined;
}

export function buildShardRows(shards: number): ShardRow[] {
  const rows: ShardRow[] = [];
  const options: HTMLElement[] = [];
  for (let shard = 0; shard < shards; shard += 1) {
    const cell = (numeric = true): HTMLElement => el('td', numeric ? { class: 'num' } : {}, '…');
    const row: ShardRow = {
      role: cell(false),
      leaderTab: cell(false),
      lsn: cell(),
      appliedLsn: cell(),
      lagLsns: cell(),
      lagMs: cell(),
      segments: cell(),
      bytesVerified: cell(),
      payloadsRejected: cell(),
      restarts: cell(),
      last: undefined,
    };
    ui.shards.append(
      el(
        'tr',
        { 'data-shard': String(shard) },
        el('td', { class: 'num' }, String(shard)),
        row.role,
        row.leaderTab,
        row.lsn,
        row.appliedLsn,
        row.lagLsns,
        row.lagMs,
        row.segments,
        row.bytesVerified,
        row.payloadsRejected,
        row.restarts,
      ),
    );
    rows.push(row);
    options.push(el('option', { value: String(shard) }, `shard ${shard}`));
  }
  ui.faultShard.replaceChildren(...options);
  return rows;
}

export function renderStats(stats: TidalStats, rows: readonly ShardRow[]): void {
  for (const s of stats.shards) {
    const row = rows[s.shard];
    if (row === undefined) {
      reportError('stats()', new Error(`stats name shard ${s.shard}, but the database has ${rows.length} shards`));
      continue;
    }
    setText(row.role, s.role);
    row.role.className = s.role;
    // A shard whose worker is (re)starting reports no numbers yet: dim them rather than show zeros as facts.
    row.role.parentElement?.classList.toggle('unknown', s.role === 'starting');
    setText(row.leaderTab, s.leaderTab === undefined ? '—' : s.leaderTab === stats.tab ? 'this tab' : shortTab(s.leaderTab));
    row.leaderTab.title = s.leaderTab ?? 'no leader known yet';
    setText(row.lsn, String(s.lsn));
    setText(row.appliedLsn, String(s.appliedLsn));
    setText(row.lagLsns, String(s.lag.lsns));
    setText(row.lagMs, s.lag.ms.toFixed(0));
    setText(row.segments, s.role === 'leader' ? String(s.segments) : '—');
    setText(row.bytesVerified, formatBytes(s.bytesVerified));
    setText(row.payloadsRejected, String(s.payloadsRejected));
    setText(row.restarts, String(s.restarts));
    if (row.last !== undefined) {
      if (s.payloadsRejected > row.last.payloadsRejected) bump(row.payloadsRejected);
      if (s.restarts > row.last.restarts) bump(row.restarts);
      if (s.role !== row.last.role) bump(row.role);
    }
    row.last = s;
    const option = ui.faultShard.options[s.shard];
    if (option) setText(option, `shard ${s.shard}${s.role === 'leader' ? ' (led by this tab)' : ''}`);
  }
  const leaders = new Set(stats.shards.map((s) => s.leaderTab).filter((tab) => tab !== undefined));
  setText(ui.tab, `· this tab: ${stats.tab} · ${leaders.size} leading tab${leaders.size === 1 ? '' : 's'}`);
}
