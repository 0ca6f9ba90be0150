/** Helpers every layer shares: errors with codes, the byte codec, BLAKE3, the clock, option checks. */
export { TidalError, isTidalError } from './errors.js';
export type { TidalErrorCode } from './errors.js';
export { Decoder, Encoder } from './bytes.js';
export { DIGEST_BYTES, equalBytes, loadBlake3 } from './blake3.js';
export type { Blake3, Blake3Reservation, IncrementalBlake3 } from './blake3.js';
export { sleep, systemClock, withTimeout } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';
export { booleanOption, functionOption, integerOption, oneOfOption } from './options.js';
