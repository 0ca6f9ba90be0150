/** Types of scripts/ceph.mjs, for the tests and bench that start a cluster. */
export interface CephCluster {
  readonly dir: string;
  readonly nodes: 1 | 3;
  /** One S3 base URL per gateway (`http://127.0.0.1:<port>`). */
  readonly endpoints: readonly string[];
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  readonly bucket: string;
  readonly startedInMs: number;
  readonly osds: readonly number[];
  killOsd(index: number): void;
  killGateway(index: number): void;
  ceph(...args: string[]): string;
  stop(): Promise<void>;
}
export function ensureCephInstalled(): void;
export function startCeph(options?: {
  nodes?: 1 | 3;
  bucket?: string;
  corsOrigins?: string[];
  log?: (message: string) => void;
}): Promise<CephCluster>;
