// The machine a run was taken on, for bench/results/latest.json and the
// charts: figures mean little without it.

import { cpus, totalmem, type, release } from 'node:os';

/** CPU model, logical cores, memory and OS of this machine. */
export function describeMachine() {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown CPU',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
  };
}
