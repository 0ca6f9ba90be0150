/**
 * Forage's Sync panel: the database opened with the sync settings this
 * browser keeps (sync-settings.ts), or without sync when there are none or
 * they are refused; the settings form (the key derived from a passphrase
 * with Argon2id, sealed before it is stored); "Sync now"; and the status
 * (sync-status.ts), read every 2 s. Saving or forgetting the settings
 * reloads every tab of the profile, which reopens the database with them.
 */
import { openTidal, type TidalDb } from '../../../src/index.js';
import { byId } from '../../dom.js';
import { ui } from './elements.js';
import { clear, errorText, show } from './messages.js';
import { describeSync } from './sync-status.js';
import { forgetSyncSettings, loadSyncOptions, loadSyncSettings, saveSyncSettings, sealSyncSettings } from './sync-settings.js';

/** Tabs of this profile hear here that the sync settings changed: each reopens the database with them. */
const syncChannel = new BroadcastChannel('forage-sync-settings');
syncChannel.onmessage = () => location.reload();

/** Opens the database with the sync settings this browser keeps (sync-settings.ts), or without sync. */
export async function openWithSync(): Promise<TidalDb> {
  let sync;
  try {
    sync = await loadSyncOptions();
  } catch (error) {
    show(ui.syncMessage, 'error', `Sync is off: ${errorText(error)}`);
  }
  if (!sync) return openTidal({ name: 'forage' });
  try {
    return await openTidal({ name: 'forage', sync });
  } catch (error) {
    show(ui.syncMessage, 'error', `Sync is off: its settings were refused (${errorText(error)}); Forage runs without it`);
    return openTidal({ name: 'forage' });
  }
}

const SYNC_STATUS_MS = 2000;

export function startSyncPanel(db: TidalDb): void {
  void loadSyncSettings().then((stored) => {
    if (!stored) return;
    const field = (id: string, value: string) => (byId<HTMLInputElement>(id).value = value);
    field('sync-endpoint', stored.endpoint);
    field('sync-bucket', stored.bucket);
    field('sync-region', stored.region);
    field('sync-access-key', stored.accessKeyId);
    field('sync-account', stored.account);
  });
  ui.syncForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void saveSyncForm();
  });
  ui.syncForget.addEventListener('click', () => {
    void forgetSyncSettings().then(() => {
      syncChannel.postMessage('changed');
      location.reload();
    });
  });
  const sync = db.sync;
  if (!sync) return;
  ui.syncActions.hidden = false;
  ui.syncNow.addEventListener('click', () => {
    ui.syncNow.disabled = true;
    show(ui.syncMessage, 'progress', 'Syncing…');
    sync
      .now()
      .then((stats) => {
        renderSync(stats);
        clear(ui.syncMessage);
      })
      .catch((error) => show(ui.syncMessage, 'error', `Sync failed: ${errorText(error)}`))
      .finally(() => (ui.syncNow.disabled = false));
  });
  const update = () =>
    void sync
      .stats()
      .then(renderSync)
      .catch((error) => show(ui.syncMessage, 'error', `Sync status unavailable: ${errorText(error)}`))
      .finally(() => setTimeout(update, SYNC_STATUS_MS));
  update();
}

function renderSync(stats: Awaited<ReturnType<NonNullable<TidalDb['sync']>['stats']>>): void {
  const status = describeSync(stats, Date.now());
  ui.syncState.textContent = status.state === 'ok' ? 'on' : status.state === 'waiting' ? 'starting…' : 'errors';
  ui.syncStatus.replaceChildren(
    ...status.rows.flatMap((row) => [
      Object.assign(document.createElement('dt'), { textContent: row.name }),
      Object.assign(document.createElement('dd'), { textContent: row.value }),
    ]),
  );
  ui.syncErrors.replaceChildren(...status.errors.map((error) => Object.assign(document.createElement('li'), { textContent: error })));
  ui.syncNotes.textContent = status.notes.join(' ');
}

async function saveSyncForm(): Promise<void> {
  const value = (id: string) => byId<HTMLInputElement>(id).value;
  const passphrase = byId<HTMLInputElement>('sync-passphrase');
  show(ui.syncMessage, 'progress', 'Deriving the key from the passphrase (Argon2id)…');
  try {
    const sealed = await sealSyncSettings({
      endpoint: value('sync-endpoint'),
      bucket: value('sync-bucket'),
      region: value('sync-region'),
      accessKeyId: value('sync-access-key'),
      secretAccessKey: value('sync-secret'),
      account: value('sync-account'),
      passphrase: passphrase.value,
    });
    passphrase.value = '';
    byId<HTMLInputElement>('sync-secret').value = '';
    await saveSyncSettings(sealed);
    show(ui.syncMessage, 'ok', 'Saved. Reopening with sync…');
    syncChannel.postMessage('changed');
    location.reload();
  } catch (error) {
    show(ui.syncMessage, 'error', errorText(error));
  }
}
