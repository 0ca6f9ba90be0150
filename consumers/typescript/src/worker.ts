// The app's own worker entry: tidal's shard host, started by `createWorker` in main.ts.
import 'tidal/worker';
