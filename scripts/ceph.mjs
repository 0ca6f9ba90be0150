// A throwaway Ceph cluster on loopback, serving S3 through the RADOS Gateway:
// what tidal's sync tests and bench run against. No systemd, no cephadm:
// keyrings, a monitor map, `ceph-mon --mkfs`, `ceph osd new` + `ceph-osd
// --mkfs` on memstore, a CRUSH host per OSD, `radosgw` with the Beast
// frontend on 127.0.0.1, and one S3 user with one bucket (with a CORS rule
// that exposes ETag and Content-Range, so pages on the test origin can use it).
//
// Everything lives in one temp dir; every daemon is a child process
// listening on 127.0.0.1 only, stopped by `stop()` (or by the CLI's `down`).
//
//   node scripts/ceph.mjs up [--nodes 1|3]   # prints the JSON handle, keeps running until SIGINT/SIGTERM
//   import { startCeph } from './scripts/ceph.mjs'; const ceph = await startCeph({ nodes: 3 }); ... await ceph.stop();
//
// nodes: 1 → one monitor, one OSD (one copy), one gateway (~15 s);
//        3 → three monitors, three OSDs on three CRUSH hosts (three copies, two needed), two gateways (~40 s).
//
// Installs Debian's ceph packages with apt-get when they are missing and we are root.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { AwsClient } from 'aws4fetch';
import { freePort } from './free-port.mjs';

const PACKAGES = ['ceph-mon', 'ceph-osd', 'ceph-mgr', 'radosgw', 'ceph-common'];
const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'ceph', 'ceph-authtool', 'monmaptool', 'radosgw-admin'];

/** Installs the Ceph packages if a binary is missing (root only; otherwise says what to install). */
export function ensureCephInstalled() {
  const missing = BINARIES.filter((b) => !existsSync(`/usr/bin/${b}`));
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    throw new Error(`tidal: Ceph is missing (${missing.join(', ')}). Install it with: sudo apt-get install -y ${PACKAGES.join(' ')}`);
  }
  console.log('tidal: installing Debian Ceph for the sync tests (apt-get)...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...PACKAGES], { stdio: 'inherit', env });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts a cluster. Resolves with its handle: `endpoints` (one S3 URL per
 * gateway), `accessKeyId`, `secretAccessKey`, `bucket`, `region`, and
 * `stop()`, `killOsd(i)`, `killGateway(i)`, `osds`, `gateways`.
 */
export async function startCeph({ nodes = 1, bucket = 'tidal-sync', corsOrigins = ['*'], log = () => {} } = {}) {
  if (nodes !== 1 && nodes !== 3) throw new Error(`nodes must be 1 or 3, got ${nodes}`);
  ensureCephInstalled();
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'tidal-ceph-'));
  const conf = join(dir, 'ceph.conf');
  const children = [];
  const mons = ['a', 'b', 'c'].slice(0, nodes);
  const gateways = nodes === 1 ? 1 : 2;
  const monPorts = [];
  for (const _ of mons) monPorts.push(await freePort());
  const gwPorts = [];
  for (let i = 0; i < gateways; i++) gwPorts.push(await freePort());
  const fsid = randomUUID();
  const keyring = join(dir, 'admin.keyring');
  const monKeyring = join(dir, 'mon.keyring');
  const copies = nodes === 1 ? 1 : 3;

  const run = (cmd, args, input) => {
    try {
      return execFileSync(cmd, args, { cwd: dir, input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 })
        .toString()
        .trim();
    } catch (error) {
      throw new Error(`${cmd} ${args.join(' ')} failed: ${error.stderr?.toString().slice(-1500) ?? error.message}`, { cause: error });
    }
  };
  const ceph = (...args) => run('ceph', ['-c', conf, '--connect-timeout', '20', ...args]);
  const daemon = (cmd, args, name) => {
    const child = spawn(cmd, ['-f', '-c', conf, ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const entry = { name, child, exited: false, stderr: () => stderr };
    child.on('exit', () => (entry.exited = true));
    children.push(entry);
    return entry;
  };

  // Whatever happens to this process, its daemons go with it.
  const killAll = () => {
    for (const entry of children) if (!entry.exited) entry.child.kill('SIGKILL');
  };
  process.on('exit', killAll);
  const stop = async () => {
    process.off('exit', killAll);
    for (const entry of children) if (!entry.exited) entry.child.kill('SIGKILL');
    for (const entry of children) {
      for (let i = 0; i < 50 && !entry.exited; i++) await sleep(20);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    writeFileSync(
      conf,
      [
        '[global]',
        `fsid = ${fsid}`,
        `mon initial members = ${mons.join(', ')}`,
        `mon host = ${monPorts.map((p) => `[v2:127.0.0.1:${p}]`).join(', ')}`,
        'ms bind ipv4 = true',
        'ms bind ipv6 = false',
        'public addr = 127.0.0.1',
        'cluster addr = 127.0.0.1',
        'cluster network = 127.0.0.0/8',
        'public network = 127.0.0.0/8',
        'auth cluster required = cephx',
        'auth service required = cephx',
        'auth client required = cephx',
        `keyring = ${keyring}`,
        `osd pool default size = ${copies}`,
        `osd pool default min size = ${nodes === 1 ? 1 : 2}`,
        'osd pool default pg num = 8',
        'osd pool default pgp num = 8',
        'osd pool default pg autoscale mode = off',
        'mon allow pool size one = true',
        'mon max pg per osd = 1000',
        'mon warn on pool no redundancy = false',
        'osd crush chooseleaf type = 1',
        'osd objectstore = memstore',
        'memstore device bytes = 4294967296',
        'osd data = ' + join(dir, 'osd-$id'),
        'mon data = ' + join(dir, 'mon-$id'),
        `run dir = ${dir}`,
        `admin socket = ${join(dir, '$name.asok')}`,
        `log file = ${join(dir, '$name.log')}`,
        'debug ms = 0',
        // Heartbeats tuned for a test cluster: a killed OSD is marked down within seconds.
        'osd heartbeat grace = 6',
        'osd heartbeat interval = 1',
        'mon osd down out interval = 3600',
        'mon osd min down reporters = 1',
        'osd op complaint time = 5',
        '',
        '[osd]',
        `keyring = ${join(dir, 'osd-$id', 'keyring')}`,
        '',
        ...mons.flatMap((id, i) => [`[mon.${id}]`, `public addr = v2:127.0.0.1:${monPorts[i]}`, '']),
        ...Array.from({ length: gateways }, (_, i) => [
          `[client.rgw.gw${i}]`,
          `keyring = ${join(dir, `rgw-gw${i}.keyring`)}`,
          `rgw frontends = beast endpoint=127.0.0.1:${gwPorts[i]} tcp_nodelay=1`,
          'rgw dns name = 127.0.0.1',
          'rgw thread pool size = 64',
          '',
        ]).flat(),
      ].join('\n'),
    );

    // Keyrings: the monitors' (which every monitor needs, or three never form a quorum) and the admin's.
    run('ceph-authtool', ['--create-keyring', monKeyring, '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    run('ceph-authtool', [
      '--create-keyring',
      keyring,
      '--gen-key',
      '-n',
      'client.admin',
      '--cap',
      'mon',
      'allow *',
      '--cap',
      'osd',
      'allow *',
      '--cap',
      'mgr',
      'allow *',
      '--cap',
      'mds',
      'allow *',
    ]);
    run('ceph-authtool', [monKeyring, '--import-keyring', keyring]);
    const monmap = join(dir, 'monmap');
    run('monmaptool', ['--create', '--fsid', fsid, ...mons.flatMap((id, i) => ['--addv', id, `[v2:127.0.0.1:${monPorts[i]}]`]), monmap]);
    for (const id of mons) {
      run('ceph-mon', ['-c', conf, '--mkfs', '-i', id, '--monmap', monmap, '--keyring', monKeyring]);
      daemon('ceph-mon', ['-i', id], `mon.${id}`);
    }
    log(`monitors started (${Date.now() - started} ms)`);
    await waitFor(
      () => {
        try {
          return JSON.parse(ceph('quorum_status', '-f', 'json')).quorum.length === mons.length;
        } catch {
          return false;
        }
      },
      60_000,
      'monitor quorum',
      children,
    );
    log(`quorum (${Date.now() - started} ms)`);

    const osds = [];
    for (let i = 0; i < nodes; i++) {
      const uuid = randomUUID();
      const secret = run('ceph-authtool', ['--gen-print-key']);
      const id = Number(run('ceph', ['-c', conf, 'osd', 'new', uuid, '-i', '-'], JSON.stringify({ cephx_secret: secret })));
      const data = join(dir, `osd-${id}`);
      mkdirSync(data, { recursive: true });
      run('ceph-authtool', ['--create-keyring', join(data, 'keyring'), '--name', `osd.${id}`, '--add-key', secret]);
      run('ceph-osd', ['-c', conf, '-i', String(id), '--mkfs', '--osd-uuid', uuid]);
      // A CRUSH host per OSD, so that three copies land on three "machines".
      ceph('osd', 'crush', 'add-bucket', `node${id}`, 'host');
      ceph('osd', 'crush', 'move', `node${id}`, 'root=default');
      ceph('osd', 'crush', 'add', `osd.${id}`, '1.0', `host=node${id}`);
      osds.push({ id, entry: daemon('ceph-osd', ['-i', String(id), '--osd-crush-update-on-start=false'], `osd.${id}`) });
    }
    await waitFor(
      () => {
        try {
          return JSON.parse(ceph('osd', 'stat', '-f', 'json')).num_up_osds === nodes;
        } catch {
          return false;
        }
      },
      60_000,
      'OSDs up',
      children,
    );
    log(`OSDs up (${Date.now() - started} ms)`);

    const gws = [];
    for (let i = 0; i < gateways; i++) {
      ceph('auth', 'get-or-create', `client.rgw.gw${i}`, 'mon', 'allow rw', 'osd', 'allow rwx', '-o', join(dir, `rgw-gw${i}.keyring`));
      gws.push({ port: gwPorts[i], entry: daemon('radosgw', ['-n', `client.rgw.gw${i}`], `rgw.gw${i}`) });
    }
    const endpoints = gwPorts.map((p) => `http://127.0.0.1:${p}`);
    await waitFor(
      async () => {
        for (const e of endpoints) {
          const ok = await fetch(e, { signal: AbortSignal.timeout(2000) }).then(
            (r) => r.status < 500,
            () => false,
          );
          if (!ok) return false;
        }
        return true;
      },
      90_000,
      'gateways answering',
      children,
    );
    log(`gateways up (${Date.now() - started} ms)`);

    const accessKeyId = 'TIDAL' + randomBytes(8).toString('hex').toUpperCase();
    const secretAccessKey = randomBytes(24).toString('base64url');
    run('radosgw-admin', [
      '-c',
      conf,
      'user',
      'create',
      '--uid=tidal',
      '--display-name=tidal',
      `--access-key=${accessKeyId}`,
      `--secret=${secretAccessKey}`,
    ]);
    const region = 'us-east-1';
    const client = new AwsClient({ accessKeyId, secretAccessKey, service: 's3', region });
    await waitFor(
      async () => {
        const r = await client.fetch(`${endpoints[0]}/${bucket}`, { method: 'PUT' }).catch(() => undefined);
        return r !== undefined && (r.status === 200 || r.status === 409);
      },
      30_000,
      'bucket creation',
      children,
    );
    const cors =
      '<CORSConfiguration><CORSRule>' +
      corsOrigins.map((o) => `<AllowedOrigin>${o}</AllowedOrigin>`).join('') +
      '<AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedMethod>HEAD</AllowedMethod>' +
      '<AllowedMethod>DELETE</AllowedMethod><AllowedMethod>POST</AllowedMethod>' +
      '<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><ExposeHeader>Content-Range</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds>' +
      '</CORSRule></CORSConfiguration>';
    const md5 = (await import('node:crypto')).createHash('md5').update(cors).digest('base64');
    const corsResponse = await client.fetch(`${endpoints[0]}/${bucket}?cors`, {
      method: 'PUT',
      body: cors,
      headers: { 'content-md5': md5, 'content-type': 'application/xml' },
    });
    if (!corsResponse.ok) throw new Error(`setting the bucket's CORS rule failed: ${corsResponse.status} ${await corsResponse.text()}`);
    log(`ready in ${Date.now() - started} ms`);

    return {
      dir,
      nodes,
      endpoints,
      accessKeyId,
      secretAccessKey,
      region,
      bucket,
      startedInMs: Date.now() - started,
      osds: osds.map((o) => o.id),
      /** Kills OSD `i` (SIGKILL, as a crash would). */
      killOsd(i) {
        osds[i].entry.child.kill('SIGKILL');
      },
      /** Kills gateway `i` (SIGKILL). */
      killGateway(i) {
        gws[i].entry.child.kill('SIGKILL');
      },
      /** `ceph` CLI against this cluster (admin). */
      ceph,
      stop,
    };
  } catch (error) {
    const logs = children.map((c) => `${c.name}${c.exited ? ' (exited)' : ''}: ${c.stderr().slice(-800)}`).join('\n');
    await stop();
    throw new Error(`tidal: Ceph bring-up failed: ${error instanceof Error ? error.message : error}\n${logs}`, { cause: error });
  }
}

async function waitFor(check, timeoutMs, what, children) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    const dead = children.find((c) => c.exited);
    if (dead) throw new Error(`${dead.name} exited while waiting for ${what}: ${dead.stderr().slice(-1500)}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [command = 'up', ...rest] = process.argv.slice(2);
  const nodesFlag = rest.indexOf('--nodes');
  const nodes = nodesFlag >= 0 ? Number(rest[nodesFlag + 1]) : 1;
  if (command !== 'up') {
    console.error('usage: node scripts/ceph.mjs up [--nodes 1|3]   (stops everything on SIGINT/SIGTERM)');
    process.exit(2);
  }
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));
  const ceph = await startCeph({ nodes, log: (m) => console.error(`ceph: ${m}`) });
  const { stop, killOsd, killGateway, ceph: _cli, ...handle } = ceph;
  console.log(JSON.stringify(handle));
  const shutdown = () => stop().then(() => process.exit(0));
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}
