/** Types of scripts/free-port.mjs, for the TypeScript specs that start a server. */
export function freePort(): Promise<number>;
