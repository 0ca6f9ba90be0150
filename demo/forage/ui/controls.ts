/**
 * The controls beside the feed on Forage's page: adding a source by URL
 * or from files (a feed, or an OPML list of feeds), refreshing one, the
 * CORS proxy, labels, the embedder, and the exports (preferences, KTO,
 * signals as JSONL; sources as OPML). Each reports in its own message line.
 */
import { byId } from '../../dom.js';
import type { EmbedderKind, IngestResult, OpmlImportResult } from '../handlers/index.js';
import type { ForageClient } from './client.js';
import { ui } from './elements.js';
import { page } from './feed-page.js';
import { download, readFile } from './files.js';
import { errorText, progressText, show } from './messages.js';

/** Forage's client, once connected (`wireControls`). */
let client: ForageClient;

function describeIngest(result: IngestResult): string {
  return `${result.title}: ${result.items} items, ${result.added} new${result.merged ? `, ${result.merged} already here from another source` : ''}.`;
}

function describeImport(result: OpmlImportResult): string {
  const failed = result.results.filter((r) => !r.ok);
  const ok = result.results.length - failed.length;
  const lines = [`OPML: ${ok} of ${result.feeds} feeds added.`];
  for (const f of failed) if (!f.ok) lines.push(`${f.url}: ${f.error.replace(/^[A-Z][A-Za-z]+: /, '')}`);
  return lines.join(' ');
}

export async function refreshSource(sourceId: string, row: HTMLElement): Promise<void> {
  row.classList.add('busy');
  try {
    const result = await client.refreshSource(sourceId, (p) => show(ui.sourceMessage, 'progress', progressText(p)));
    show(ui.sourceMessage, 'ok', describeIngest(result));
  } catch (error) {
    show(ui.sourceMessage, 'error', errorText(error));
  } finally {
    row.classList.remove('busy');
  }
}

async function addFiles(files: FileList | File[]): Promise<void> {
  for (const file of files) {
    show(ui.sourceMessage, 'progress', `Reading ${file.name}…`);
    try {
      const text = await readFile(file);
      const result = await client.addFile(file.name, text, (p) => show(ui.sourceMessage, 'progress', progressText(p)));
      const failed = 'feeds' in result && result.results.some((r) => !r.ok);
      show(ui.sourceMessage, failed ? 'error' : 'ok', 'feeds' in result ? describeImport(result) : describeIngest(result));
    } catch (error) {
      show(ui.sourceMessage, 'error', `${file.name}: ${errorText(error)}`);
    }
  }
}

function exportButton(id: string, name: string, type: string, produce: () => Promise<string>): void {
  byId(id).addEventListener('click', () => {
    produce()
      .then((text) => {
        download(name, text, type);
        const lines = text === '' ? 0 : text.trimEnd().split('\n').length;
        show(ui.exportMessage, 'ok', type === 'text/x-opml' ? `${name} downloaded.` : `${name}: ${lines} lines downloaded.`);
      })
      .catch((error) => show(ui.exportMessage, 'error', errorText(error)));
  });
}

/** Wires the controls to `connected`. */
export function wireControls(connected: ForageClient): void {
  client = connected;
  ui.addSource.addEventListener('submit', (event) => {
    event.preventDefault();
    const url = ui.sourceUrl.value;
    show(ui.sourceMessage, 'progress', `Fetching ${url}…`);
    client
      .addSource(url, {}, (p) => show(ui.sourceMessage, 'progress', progressText(p)))
      .then((result) => {
        show(ui.sourceMessage, 'ok', describeIngest(result));
        ui.sourceUrl.value = '';
      })
      .catch((error) => show(ui.sourceMessage, 'error', errorText(error)));
  });

  ui.file.addEventListener('change', () => {
    if (ui.file.files) void addFiles([...ui.file.files]).finally(() => (ui.file.value = ''));
  });
  ui.drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    ui.drop.classList.add('over');
  });
  ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
  ui.drop.addEventListener('drop', (event) => {
    event.preventDefault();
    ui.drop.classList.remove('over');
    if (event.dataTransfer?.files.length) void addFiles([...event.dataTransfer.files]);
  });

  ui.proxyForm.addEventListener('submit', (event) => {
    event.preventDefault();
    client
      .setCorsProxy(ui.proxy.value)
      .then((r) =>
        show(
          ui.proxyMessage,
          'ok',
          r.corsProxy ? `Other sites' feeds go through ${r.corsProxy}.` : 'No proxy: feeds are fetched directly.',
        ),
      )
      .catch((error) => show(ui.proxyMessage, 'error', errorText(error)));
  });

  ui.addLabel.addEventListener('submit', (event) => {
    event.preventDefault();
    client
      .createLabel(ui.labelName.value)
      .then((label) => {
        show(ui.labelMessage, 'ok', `Label "${label.name}" created: add items to it from their cards.`);
        ui.labelName.value = '';
      })
      .catch((error) => show(ui.labelMessage, 'error', errorText(error)));
  });

  ui.embedder.addEventListener('change', () => {
    const kind = ui.embedder.value as EmbedderKind;
    show(ui.embedderMessage, 'progress', kind === 'glove' ? 'Loading the word vectors…' : 'Switching…');
    client
      .setEmbedder(kind)
      .then((r) => show(ui.embedderMessage, 'ok', `Labels now use ${r.id}, in every tab.`))
      .catch((error) => {
        show(ui.embedderMessage, 'error', errorText(error));
        if (page.view) ui.embedder.value = page.view.embedder.kind;
      });
  });

  exportButton('export-preferences', 'preferences.jsonl', 'application/jsonl', () => client.exportPreferences());
  exportButton('export-kto', 'kto.jsonl', 'application/jsonl', () => client.exportKto());
  exportButton('export-signals', 'signals.jsonl', 'application/jsonl', () => client.exportSignals());
  exportButton('export-opml', 'sources.opml', 'text/x-opml', () => client.exportOpml());
}
