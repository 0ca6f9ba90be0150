// A TCP port on 127.0.0.1 that nobody listens on now, picked by the OS, for the servers the tests,
// benchmarks, soak and consumer apps start (each then binds it strictly). Another process could
// take it before the caller binds it; a strict bind then fails loudly rather than share a port.
//
//     const port = await freePort();
//     await server.listen(port, '127.0.0.1');
import { createServer } from 'node:net';

/** Resolves to a port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}
