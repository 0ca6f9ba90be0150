#!/usr/bin/env node
// Regenerates src/common/blake3-simd-wasm.ts: the WebAssembly module of the npm package
// blake3-wasm@3.0.0 (the official BLAKE3 C implementation, its SSE4.1 code compiled by emscripten to
// WASM SIMD128), as base64, so that the package needs no .wasm file to be located at run time and
// works with every bundler. The package itself cannot be a dependency: it depends on
// @c4312/blake3-internal@2.1.7, which was never published.
//
//     node scripts/vendor-blake3-wasm.mjs          # writes the module
//     node scripts/vendor-blake3-wasm.mjs --check  # fails if the committed module differs
//
// It fetches the tarball with `npm pack`, refuses it unless its sha512 is the pinned one, checks
// that the emscripten glue (dist/wasm/blake3.js) still names the imports and exports the way
// src/common/blake3-simd.ts calls them, checks the module's imports, exports and arities, and
// that it hashes the BLAKE3 test vectors, then writes the module.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PACKAGE = 'blake3-wasm@3.0.0';
const INTEGRITY = 'sha512-X410nN2AIX6k8gHQmXruQ9YV3U8fe7ZrfLMp88qBcGx5oEIGzz305HvquXoSTPdaR74EA99KHBTb8El9q0vjqQ==';
const OUT = new URL('../src/common/blake3-simd-wasm.ts', import.meta.url);

/** Import and export names of the module, as the glue maps them (name in the module -> C name). */
const IMPORTS = { a: '_emscripten_resize_heap', b: '_emscripten_memcpy_big', c: '___assert_fail' };
const EXPORTS = {
  e: ['___wasm_call_ctors', 0],
  f: ['_hash_oneshot', 4],
  h: ['_malloc', 1],
  i: ['_hasher_init', 1], // its one argument is unused: the glue's ccall passes none
  j: ['_hasher_init_keyed', 1],
  l: ['_hasher_update', 3],
  m: ['_hasher_read', 5],
  o: ['_free', 1],
};
/** What blake3-simd.ts reserves per hasher state (its HASHER_SLOT_BYTES). */
const HASHER_SLOT_BYTES = 2048;
const VECTORS = [
  ['', 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'],
  ['abc', '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85'],
];

function fail(message) {
  console.error(`vendor-blake3-wasm: ${message}`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'tidal-blake3-wasm-'));
try {
  const [{ filename }] = JSON.parse(execFileSync('npm', ['pack', PACKAGE, '--json', '--pack-destination', dir], { encoding: 'utf8' }));
  const tarball = readFileSync(join(dir, filename));
  const integrity = `sha512-${createHash('sha512').update(tarball).digest('base64')}`;
  if (integrity !== INTEGRITY) fail(`${PACKAGE} tarball is ${integrity}, pinned ${INTEGRITY}: refusing it`);
  execFileSync('tar', ['xzf', join(dir, filename), '-C', dir, 'package/dist/wasm/blake3.js', 'package/dist/wasm/blake3.wasm']);
  const glue = readFileSync(join(dir, 'package/dist/wasm/blake3.js'), 'utf8');
  const wasm = readFileSync(join(dir, 'package/dist/wasm/blake3.wasm'));

  for (const [name, c] of Object.entries(IMPORTS)) {
    if (!glue.includes(`"${name}": ${c}`)) fail(`the glue no longer maps import a.${name} to ${c}`);
  }
  if (!glue.includes('wasmMemory = Module["asm"]["d"]')) fail('the glue no longer takes its memory from export d');
  for (const [name, [c]] of Object.entries(EXPORTS)) {
    if (!glue.includes(`Module["${c}"] = Module["asm"]["${name}"]`)) fail(`the glue no longer maps ${c} to export ${name}`);
  }

  const module = new WebAssembly.Module(wasm);
  const imports = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}:${i.kind}`);
  if (imports.join() !== 'a.a:function,a.b:function,a.c:function') fail(`unexpected imports ${imports.join()}`);
  const noGrowth = () => 0;
  const { exports } = new WebAssembly.Instance(module, {
    a: { a: noGrowth, b: noGrowth, c: () => fail('assertion failed in the module') },
  });
  if (!(exports.d instanceof WebAssembly.Memory)) fail('export d is not the memory');
  for (const [name, [c, arity]] of Object.entries(EXPORTS)) {
    if (typeof exports[name] !== 'function' || exports[name].length !== arity)
      fail(`export ${name} (${c}) is not a function of ${arity} arguments`);
  }
  exports.e();
  const heap = new Uint8Array(exports.d.buffer);
  const io = exports.h(64);
  // blake3-simd.ts copies hasher states at HASHER_SLOT_BYTES into slots of its own: the module's
  // allocation of one (malloc(sizeof(blake3_hasher)), header included) must be smaller, and a copied
  // state must hash as the original.
  const [first, second] = [exports.i(0), exports.i(0)];
  if (second - first > HASHER_SLOT_BYTES || second <= first)
    fail(`hasher states are ${second - first} bytes apart, more than ${HASHER_SLOT_BYTES}`);
  const slot = exports.h(HASHER_SLOT_BYTES);
  heap.copyWithin(slot, first, first + HASHER_SLOT_BYTES);
  for (const [text, expected] of VECTORS) {
    const input = new TextEncoder().encode(text);
    heap.set(input, io);
    exports.f(io, input.length, io + 32, 32);
    const oneShot = Buffer.from(heap.subarray(io + 32, io + 64)).toString('hex');
    heap.copyWithin(slot, first, first + HASHER_SLOT_BYTES);
    exports.l(slot, io, input.length);
    exports.m(slot, 0, 0, io + 32, 32);
    const copied = Buffer.from(heap.subarray(io + 32, io + 64)).toString('hex');
    if (oneShot !== expected || copied !== expected) {
      fail(`BLAKE3(${JSON.stringify(text)}) is ${oneShot} (one-shot), ${copied} (copied state), expected ${expected}`);
    }
  }

  const base64 = wasm.toString('base64');
  const lines = base64.match(/.{1,100}/g).map((line) => `  '${line}',`);
  const sha256 = createHash('sha256').update(wasm).digest('hex');
  const source = `// Generated by scripts/vendor-blake3-wasm.mjs: do not edit.
//
// The WebAssembly module dist/wasm/blake3.wasm of the npm package ${PACKAGE}
// (its tarball's integrity: ${INTEGRITY}),
// ${wasm.length} bytes, sha256 ${sha256}:
// the official BLAKE3 C implementation, its SSE4.1 code compiled by emscripten to WASM SIMD128.
// blake3-wasm is MIT-licensed (Connor Peet); BLAKE3 is CC0-1.0 or Apache-2.0: see THIRD-PARTY.md.

/** The module's bytes, base64 in lines of 100 characters. */
export const BLAKE3_SIMD_WASM_BASE64 = [
${lines.join('\n')}
].join('');
`;
  if (process.argv.includes('--check')) {
    if (readFileSync(OUT, 'utf8') !== source)
      fail(`${OUT.pathname} differs from what ${PACKAGE} generates: run node scripts/vendor-blake3-wasm.mjs`);
    console.log(`vendor-blake3-wasm: ${OUT.pathname} matches ${PACKAGE}`);
  } else {
    writeFileSync(OUT, source);
    console.log(`vendor-blake3-wasm: wrote ${OUT.pathname} (${wasm.length} bytes of wasm, sha256 ${sha256})`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
