// The machine a run was taken on, for bench/results/latest.json and the
// charts: figures mean little without it.

import { cpus, loadavg, release, totalmem, type } from 'node:os';

/**
 * CPU model, logical cores, memory and OS of this machine, and its load
 * average over the last minute when the run started (the machine may be
 * shared: a load far above the core count means every figure is slowed).
 */
export function describeMachine() {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown CPU',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    loadAverage: Number(loadavg()[0].toFixed(1)),
  };
}
