import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Decoder, Encoder } from '../common/bytes.js';
import { isTidalError, type TidalErrorCode } from '../common/errors.js';
import { decodeValue, encodeValue } from '../common/value.js';
import { MAX_PAYLOAD_DEPTH, PAYLOAD_VERSION, decodePayload, encodePayload, type Value } from './payload.js';
import { valueShape as shape } from '../common/testing/value-shape.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

/** Encodes one value as a payload and returns the bytes after the version byte, in hex. */
const valueHex = (value: Value): string => hex(encodePayload([value]).subarray(1));

/** An object with the given entries, defined as own properties (so `__proto__` is a key, not the prototype). */
function objectOf(entries: readonly (readonly [string, Value])[], nullPrototype = false): { [key: string]: Value } {
  const object: { [key: string]: Value } = nullPrototype ? (Object.create(null) as { [key: string]: Value }) : {};
  for (const [key, value] of entries) {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return object;
}

/** Checks what decoding promises beyond equality: plain objects, own keys, dense arrays, bytes copied. */
function expectDecodedForm(value: Value, payload: Uint8Array): void {
  if (value instanceof Uint8Array) {
    expect(Object.getPrototypeOf(value)).toBe(Uint8Array.prototype);
    expect(value.buffer).not.toBe(payload.buffer);
    expect(value.byteOffset).toBe(0);
    expect(value.buffer.byteLength).toBe(value.length);
  } else if (Array.isArray(value)) {
    expect(Object.getPrototypeOf(value)).toBe(Array.prototype);
    for (let i = 0; i < value.length; i++) {
      expect(i in value).toBe(true);
      expectDecodedForm(value[i]!, payload);
    }
  } else if (value !== null && typeof value === 'object') {
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    for (const key of Object.keys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key)!;
      expect(descriptor).toMatchObject({ enumerable: true, writable: true, configurable: true });
      expectDecodedForm(descriptor.value as Value, payload);
    }
  }
}

function roundTrip(events: readonly Value[]): Value[] {
  const payload = encodePayload(events);
  const decoded = decodePayload(payload, events.length);
  expect(decoded.map(shape)).toEqual(events.map(shape));
  for (const value of decoded) expectDecodedForm(value, payload);
  // Decoding loses nothing the encoding writes: re-encoding gives the same bytes.
  expect(hex(encodePayload(decoded))).toBe(hex(payload));
  return decoded;
}

/** Runs `action` and returns the TidalError it throws, failing if it throws anything else or nothing. */
function refusal(action: () => unknown, code: TidalErrorCode): Error & { details?: Readonly<Record<string, unknown>> } {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'expected a TidalError').toBeInstanceOf(Error);
  if (!isTidalError(thrown, code)) throw new Error(`expected TidalError ${code}, got ${String(thrown)}`);
  return thrown;
}

describe('payload encoding: golden bytes (docs/PAYLOAD.md)', () => {
  it('starts with the version byte', () => {
    expect(PAYLOAD_VERSION).toBe(1);
    expect(hex(encodePayload([]))).toBe('01');
  });

  it('writes each kind of value exactly as specified', () => {
    const golden: [Value, string][] = [
      [null, '00'],
      [false, '01'],
      [true, '02'],
      [0, '80'],
      [1, '81'],
      [127, 'ff'],
      [128, '038001'],
      [300, '03ac02'],
      [Number.MAX_SAFE_INTEGER, '03ffffffffffffff0f'],
      [-1, '0400'],
      [-2, '0401'],
      [-129, '048001'],
      [Number.MIN_SAFE_INTEGER, '04feffffffffffff0f'],
      [-0, '050000000000000080'],
      [1.5, '05000000000000f83f'],
      [NaN, '05000000000000f87f'],
      [Infinity, '05000000000000f07f'],
      [-Infinity, '05000000000000f0ff'],
      [2 ** 53, '050000000000004043'],
      [0n, '0600'],
      [300n, '06ac02'],
      [-1n, '0700'],
      [-300n, '07ab02'],
      [(1n << 64n) - 1n, '06ffffffffffffffffff01'],
      ['', '0800'],
      ['é', '0802c3a9'],
      ['aé', '080361c3a9'],
      ['a'.repeat(127), `087f${'61'.repeat(127)}`],
      ['a'.repeat(128), `088001${'61'.repeat(128)}`],
      [`${'a'.repeat(40)}é`, `082a${'61'.repeat(40)}c3a9`],
      ['😀', '0804f09f9880'],
      ['\uFEFFa', '0804efbbbf61'],
      [new Uint8Array([1, 2, 255]), '09030102ff'],
      [[], '0a00'],
      [{}, '0b00'],
      [[null, [true]], '0a02000a0102'],
      [objectOf([['__proto__', 1]]), '0b01095f5f70726f746f5f5f81'],
    ];
    for (const [value, expected] of golden) {
      expect(valueHex(value), `encoding of ${String(shape(value))}`).toBe(expected);
      expect(shape(decodePayload(fromHex(`01${expected}`), 1)[0])).toEqual(shape(value));
    }
  });

  it('matches the worked example of docs/PAYLOAD.md §4', () => {
    const payload = encodePayload([{ n: 1, tags: ['a', -2] }, 1.5]);
    expect(hex(payload)).toBe('01' + '0b02' + '016e' + '81' + '0474616773' + '0a02' + '080161' + '0401' + '05000000000000f83f');
  });

  it('keeps object keys in insertion order (integer-like keys first, as JavaScript orders them)', () => {
    const payload = encodePayload([{ b: 1, a: 2, 10: 3, 2: 4 }]);
    expect(hex(payload)).toBe('01' + '0b04' + '013284' + '02313083' + '016281' + '016182');
    expect(Object.keys(decodePayload(payload, 1)[0]!)).toEqual(['2', '10', 'b', 'a']);
  });

  it('encodeValue and decodeValue are the same value encoding, usable inside other formats', () => {
    const encoder = new Encoder();
    encoder.writeU32(0xdeadbeef);
    encodeValue(encoder, { id: 7n, name: 'x' });
    encodeValue(encoder, 'next');
    const bytes = encoder.toBytes();
    expect(hex(bytes.subarray(4))).toBe('0b02' + '0269640607' + '046e616d65080178' + '08046e657874');
    const decoder = new Decoder(bytes);
    expect(decoder.readU32()).toBe(0xdeadbeef);
    expect(shape(decodeValue(decoder))).toEqual(shape({ id: 7n, name: 'x' }));
    expect(decodeValue(decoder)).toBe('next');
    expect(decoder.remaining).toBe(0);
  });
});

// ---------------------------------------------------------------- arbitraries

const specialNumbers = fc.constantFrom(
  -0,
  0,
  NaN,
  Infinity,
  -Infinity,
  127,
  128,
  -1,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  2 ** 53,
  -(2 ** 53),
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  0.1,
);
const bigLimit = 1n << 8192n;
const anyNumber = fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.double(), specialNumbers);
const anyBigInt = fc.oneof(
  fc.bigInt({ min: -(1n << 300n), max: 1n << 300n }),
  fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }),
  fc.constantFrom(0n, -1n, bigLimit - 1n, -bigLimit),
);
// 'binary' draws any code point, so surrogate pairs (non-BMP text) are common.
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ maxLength: 10 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.constantFrom('\uFEFF', '\uFEFFbom', '😀', '\u{10FFFF}', 'a\u0000b'),
);
const anyKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '0', '10', '', 'a b', '😀'),
  fc.string({ unit: 'binary', maxLength: 12 }),
);

const { value: anyValue } = fc.letrec<{ value: Value; leaf: Value; array: Value[]; object: { [key: string]: Value } }>((tie) => ({
  leaf: fc.oneof(fc.constant(null), fc.boolean(), anyNumber, anyBigInt, anyString, fc.uint8Array({ maxLength: 40 })),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc
    .tuple(fc.uniqueArray(fc.tuple(anyKey, tie('value')), { maxLength: 5, selector: ([key]) => key }), fc.boolean())
    .map(([entries, nullPrototype]) => objectOf(entries, nullPrototype)),
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('array'), tie('object')),
}));

describe('payload encoding: round trips', () => {
  it('round-trips arbitrary events of every kind (seeded)', () => {
    fc.assert(
      fc.property(fc.array(anyValue, { maxLength: 8 }), (events) => {
        roundTrip(events);
      }),
      { seed: 0x9a710ad, numRuns: 600 },
    );
  });

  it('round-trips the awkward cases explicitly', () => {
    const decoded = roundTrip([
      -0,
      NaN,
      Number.MIN_SAFE_INTEGER - 1,
      '\uD83D\uDE00 and \u{1F9EC} are non-BMP',
      '\uFEFFstarts with a BOM',
      bigLimit - 1n,
      -bigLimit,
      objectOf([
        ['__proto__', { polluted: true }],
        ['constructor', 'c'],
      ]),
      objectOf([['x', 1]], true),
    ]);
    expect(Object.is(decoded[0], -0)).toBe(true);
    const withProto = decoded[7] as { [key: string]: Value };
    expect(Object.getPrototypeOf(withProto)).toBe(Object.prototype);
    expect(Object.hasOwn(withProto, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(withProto, '__proto__')?.value).toEqual({ polluted: true });
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('writes a value referenced twice (without a cycle) twice, and decodes two equal objects', () => {
    const shared = { a: 1 };
    const [first, second] = roundTrip([shared, { x: shared, y: [shared] }]) as [Value, { x: Value; y: Value[] }];
    expect(first).toEqual(shared);
    expect(second.x).toEqual(shared);
    expect(second.x).not.toBe(first);
  });

  it('decodes bytes as copies that outlive the payload buffer', () => {
    const payload = encodePayload([new Uint8Array([1, 2, 3])]);
    const [bytes] = decodePayload(payload, 1) as [Uint8Array];
    payload.fill(0);
    expect([...bytes]).toEqual([1, 2, 3]);
  });

  it('nests exactly up to the documented depth', () => {
    let deepest: Value = 'bottom';
    for (let i = 0; i < MAX_PAYLOAD_DEPTH; i++) deepest = i % 2 === 0 ? [deepest] : { d: deepest };
    roundTrip([deepest]);
  });

  it('keeps working after a refusal and when re-entered from a getter', () => {
    expect(() => encodePayload([{ bad: undefined as unknown as Value }])).toThrow(/Unencodable/);
    expect(hex(encodePayload([1, 'a']))).toBe('0181080161');
    const sneaky = {} as { [key: string]: Value };
    Object.defineProperty(sneaky, 'inner', {
      enumerable: true,
      get: () => encodePayload(['inside']),
    });
    const payload = encodePayload([sneaky, 2]);
    const [decoded] = decodePayload(payload, 2) as [{ inner: Uint8Array }];
    expect(hex(decoded.inner)).toBe('010806696e73696465');
  });
});

describe('payload encoding: refusals at write time', () => {
  const unencodable = (events: unknown[]) => refusal(() => encodePayload(events as Value[]), 'Unencodable');

  it('refuses undefined anywhere, naming its path', () => {
    const asEvent = unencodable([1, undefined]);
    expect(asEvent.message).toMatch(/^Unencodable: events\[1\] is undefined; use null/);
    expect(asEvent.details).toEqual({ path: 'events[1]' });
    const inArray = unencodable([0, 1, 2, { tags: ['a', 'b', undefined] }]);
    expect(inArray.message).toContain('events[3].tags[2] is undefined');
    const asProperty = unencodable([{ a: { 'display name': undefined } }]);
    expect(asProperty.message).toContain('events[0].a["display name"] is undefined');
  });

  it('refuses holes in sparse arrays', () => {
    // eslint-disable-next-line no-sparse-arrays
    expect(unencodable([{ list: [1, , 3] }]).message).toContain('events[0].list[1] is a hole in a sparse array');
    const sparseEvents: unknown[] = [];
    sparseEvents[1] = 1;
    expect(unencodable(sparseEvents).message).toContain('events[0] is a hole');
  });

  it('refuses functions and symbols (as values and as keys)', () => {
    expect(unencodable([{ f: () => 1 }]).message).toContain('events[0].f is a function');
    expect(unencodable([[Symbol('s')]]).message).toContain('events[0][0] is a symbol (Symbol(s))');
    expect(unencodable([{ ok: 1, [Symbol('k')]: 1 }]).message).toContain('events[0] has a symbol key (Symbol(k))');
  });

  it('refuses true cycles, saying where they loop back to', () => {
    const self: { [key: string]: unknown } = { a: 1 };
    self['self'] = self;
    const loop = unencodable([null, self]);
    expect(loop.message).toContain('events[1].self refers back to events[1], a cycle');
    const a: { [key: string]: unknown } = {};
    const b: { [key: string]: unknown } = { list: [0, a] };
    a['b'] = b;
    expect(unencodable([{ root: a }]).message).toContain('events[0].root.b.list[1] refers back to events[0].root');
    const array: unknown[] = [];
    array.push(array);
    expect(unencodable([array]).message).toContain('events[0][0] refers back to events[0]');
    const events: unknown[] = [];
    events.push(events);
    expect(unencodable(events).message).toContain('events[0] refers back to events');
  });

  it('refuses nesting deeper than the documented bound', () => {
    let tooDeep: Value = 1;
    for (let i = 0; i <= MAX_PAYLOAD_DEPTH; i++) tooDeep = [tooDeep];
    const error = unencodable([tooDeep]);
    expect(error.message).toContain(`events[0]${'[0]'.repeat(MAX_PAYLOAD_DEPTH)} is nested ${MAX_PAYLOAD_DEPTH + 1} deep`);
  });

  it('refuses non-plain objects, saying what to store instead', () => {
    class Point {
      x = 1;
    }
    class Tags extends Array<string> {}
    const cases: [unknown, RegExp][] = [
      [new Date(0), /is a Date; store date\.getTime\(\)/],
      [new Map([[1, 2]]), /is a Map; store Object\.fromEntries\(map\)/],
      [new Set([1]), /is a Set; store \[\.\.\.set\]/],
      [new ArrayBuffer(2), /is an ArrayBuffer; store new Uint8Array\(buffer\)/],
      [new Float32Array(2), /is a Float32Array; only Uint8Array is stored as bytes/],
      [new Uint8ClampedArray(2), /is a Uint8ClampedArray/],
      [new DataView(new ArrayBuffer(2)), /is a DataView/],
      [new Point(), /is an instance of Point, not a plain object/],
      [Tags.from(['a']), /is an array whose prototype is not Array\.prototype/],
      [new String('s'), /is a boxed string/],
      [/re/, /is an instance of RegExp/],
    ];
    for (const [value, message] of cases) {
      const error = unencodable([{ field: [value] }]);
      expect(error.message).toContain('events[0].field[0] ');
      expect(error.message).toMatch(message);
    }
  });

  it('refuses lone surrogates instead of replacing them', () => {
    expect(unencodable([{ s: 'ab\uD800cd' }]).message).toMatch(/events\[0\]\.s is a string with a lone surrogate at index 2.*toWellFormed/);
    expect(unencodable(['\uDE00']).message).toContain('events[0] is a string with a lone surrogate at index 0');
    expect(unencodable([{ ['k\uDBFF']: 1 }]).message).toContain('has a key that is a string with a lone surrogate at index 1');
    // A well-formed pair is fine, in values and keys.
    roundTrip([{ ['\uD83D\uDE00']: '\uD83D\uDE00' }]);
  });

  it('refuses bigints past the documented bound', () => {
    expect(unencodable([[bigLimit]]).message).toContain('events[0][0] is a bigint of more than 8192 bits');
    expect(unencodable([-bigLimit - 1n]).message).toContain('events[0] is a bigint of more than 8192 bits');
  });

  it('names the root "value" for encodeValue, and refuses non-arrays as events', () => {
    expect(refusal(() => encodeValue(new Encoder(), { a: [undefined as unknown as Value] }), 'Unencodable').message).toContain(
      'value.a[0] is undefined',
    );
    refusal(() => encodePayload('x' as unknown as Value[]), 'InvalidArgument');
  });
});

describe('payload decoding: refusals', () => {
  const decodeFails = (payloadHex: string, count: number, code: TidalErrorCode) =>
    refusal(() => decodePayload(fromHex(payloadHex), count), code);

  it('refuses an empty payload and unknown versions', () => {
    decodeFails('', 0, 'Truncated');
    expect(decodeFails('0280', 1, 'UnsupportedVersion').message).toContain('payload version 2');
    decodeFails('0080', 1, 'UnsupportedVersion');
  });

  it('refuses unknown tags', () => {
    expect(decodeFails('010c', 1, 'MalformedPayload').message).toContain('unknown value tag 0x0c at offset 1');
    decodeFails('01 0a01 7f', 1, 'MalformedPayload');
  });

  it('refuses malformed UTF-8 in strings and keys', () => {
    decodeFails('01 0802c328', 1, 'MalformedPayload');
    decodeFails('01 0803eda080', 1, 'MalformedPayload'); // an encoded surrogate
    decodeFails('01 0802c0af', 1, 'MalformedPayload'); // an overlong form
    decodeFails('01 0b01 01ff 80', 1, 'MalformedPayload');
  });

  it('refuses lengths and counts past the end, before allocating anything for them', () => {
    decodeFails('01 0805616263', 1, 'LengthOutOfBounds');
    decodeFails('01 0905010203', 1, 'LengthOutOfBounds');
    decodeFails('01 0affffffff0f', 1, 'LengthOutOfBounds');
    decodeFails('01 0a03 8080', 1, 'LengthOutOfBounds');
    decodeFails('01 0b02 0161', 1, 'LengthOutOfBounds');
    decodeFails('01 05000000', 1, 'Truncated');
    decodeFails('01 0380', 1, 'Truncated');
    decodeFails('01 0affffffffffffffffff', 1, 'LengthOutOfBounds');
  });

  it('refuses bigints past the bound', () => {
    const tooLong = `01 06${'ff'.repeat(1171)}01`;
    decodeFails(tooLong, 1, 'LengthOutOfBounds');
    // 2^8192 fits the 1171-byte field but not the value bound.
    decodeFails(`01 07${encodeBigUint(bigLimit)}`, 1, 'LengthOutOfBounds');
    expect(decodePayload(fromHex(`01 06${encodeBigUint(bigLimit - 1n)}`), 1)[0]).toBe(bigLimit - 1n);
  });

  it('refuses nesting past the bound', () => {
    const ok = `01 ${'0a01'.repeat(MAX_PAYLOAD_DEPTH)}00`;
    expect(decodePayload(fromHex(ok), 1)).toHaveLength(1);
    const deep = `01 ${'0a01'.repeat(MAX_PAYLOAD_DEPTH)}0a00`;
    expect(decodeFails(deep, 1, 'MalformedPayload').message).toContain('nested deeper than 64');
    const deepObjects = `01 ${'0b01 0161'.repeat(MAX_PAYLOAD_DEPTH + 1)}00`;
    decodeFails(deepObjects, 1, 'MalformedPayload');
  });

  it('refuses a count that does not match the events held', () => {
    expect(decodeFails('01 8181', 3, 'Truncated').message).toContain('ends after 2 of its 3 events');
    expect(decodeFails('01 818181', 2, 'MalformedPayload').message).toContain('1 bytes left after its 2 events');
    decodeFails('01 00', 0, 'MalformedPayload');
    expect(decodePayload(fromHex('01'), 0)).toEqual([]);
  });

  it('refuses duplicate object keys', () => {
    expect(decodeFails('01 0b02 016181 016182', 1, 'MalformedPayload').message).toContain('key "a" at offset 6 appears twice');
  });

  it('refuses bad arguments', () => {
    refusal(() => decodePayload(fromHex('0181'), -1), 'InvalidArgument');
    refusal(() => decodePayload(fromHex('0181'), 1.5), 'InvalidArgument');
    refusal(() => decodePayload([1, 0x81] as unknown as Uint8Array, 1), 'InvalidArgument');
  });

  it('accepts the forms an encoder does not write but the spec allows', () => {
    // An integer as f64, a small integer with the uint tag, a non-minimal LEB128.
    const decoded = decodePayload(fromHex('01 050000000000000040 0305 038500'), 3);
    expect(decoded).toEqual([2, 5, 5]);
  });
});

function encodeBigUint(value: bigint): string {
  const encoder = new Encoder();
  encoder.writeVarBigUint(value);
  return hex(encoder.toBytes());
}

describe('payload decoding: fuzz', () => {
  /** Decoding either succeeds or throws a TidalError, whatever the bytes. */
  function decodesOrRefuses(bytes: Uint8Array, count: number): void {
    let decoded: Value[];
    try {
      decoded = decodePayload(bytes, count);
    } catch (error) {
      if (!isTidalError(error)) throw error;
      return;
    }
    expect(decoded).toHaveLength(count);
    // What decodes is a payload of its own: it re-encodes to the same values.
    expect(decodePayload(encodePayload(decoded), count).map(shape)).toEqual(decoded.map(shape));
  }

  it('never fails with anything but a TidalError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), fc.nat({ max: 6 }), (bytes, versioned, count) => {
        if (versioned && bytes.length > 0) bytes[0] = PAYLOAD_VERSION;
        decodesOrRefuses(bytes, count);
      }),
      { seed: 0xf022, numRuns: 3000 },
    );
  });

  it('never fails with anything but a TidalError on mutated valid payloads', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    );
    fc.assert(
      fc.property(
        fc.array(anyValue, { minLength: 1, maxLength: 5 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: -1, max: 1 }),
        (events, mutations, countDelta) => {
          let bytes = Array.from(encodePayload(events));
          for (const m of mutations) {
            const at = m.at % (bytes.length + 1);
            if (m.kind === 'flip') {
              if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = m.byte;
            } else if (m.kind === 'cut') bytes = bytes.slice(0, at);
            else bytes.splice(at, 0, m.byte);
          }
          decodesOrRefuses(new Uint8Array(bytes), Math.max(0, events.length + countDelta));
        },
      ),
      { seed: 0x3a7e, numRuns: 1500 },
    );
  });
});
