import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort } from '../helpers/network.js'
import { waitFor } from '../helpers/wait.js'

/** A real three-master Redis Cluster on loopback, owned by one test file, which may restart a master. */
export interface RedisClusterUnderTest {
  /** `127.0.0.1:port` of each master. */
  readonly nodes: readonly string[]
  /** Stops one master (SIGKILL, so nothing is said goodbye) and starts it again on its port and node id. */
  restart(index: number, downMs?: number): Promise<void>
  stop(): Promise<void>
}

async function pingable(port: number): Promise<boolean> {
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  probe.on('error', () => {})
  try {
    await probe.connect()
    return (await probe.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}

async function clusterOk(port: number): Promise<boolean> {
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  probe.on('error', () => {})
  try {
    await probe.connect()
    const info = String(await probe.call('CLUSTER', 'INFO'))
    return info.includes('cluster_state:ok')
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}

export async function startRedisCluster(): Promise<RedisClusterUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'))
  const ports = [await freePort(), await freePort(), await freePort()]
  const children: (ChildProcess | undefined)[] = []

  const launch = async (index: number) => {
    const port = ports[index]!
    const nodeDir = join(dir, String(port))
    mkdirSync(nodeDir, { recursive: true })
    // No persistence of data, but nodes.conf stays in nodeDir: a restarted master comes back with its
    // node id and slots, as a pod with a persistent volume would, and no failover is involved.
    children[index] = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no', '--dir', nodeDir],
      { stdio: 'ignore' },
    )
    await waitFor(() => pingable(port), `redis-server :${port} to answer`, { timeoutMs: 10_000, intervalMs: 50 })
  }

  const stopOne = (index: number) =>
    new Promise<void>((resolve) => {
      const child = children[index]
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGKILL')
    })

  const stop = async () => {
    await Promise.all(ports.map((_, index) => stopOne(index)))
    rmSync(dir, { recursive: true, force: true })
  }

  try {
    for (let index = 0; index < ports.length; index += 1) await launch(index)
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-yes'], { encoding: 'utf8' })
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stderr || created.stdout}`)
    await waitFor(async () => (await Promise.all(ports.map(clusterOk))).every(Boolean), 'cluster_state:ok on every node', { timeoutMs: 20_000, intervalMs: 100 })
  } catch (error) {
    await stop()
    throw error
  }

  return {
    nodes: ports.map((port) => `127.0.0.1:${port}`),
    async restart(index, downMs = 500) {
      await stopOne(index)
      await new Promise((resolve) => setTimeout(resolve, downMs))
      await launch(index)
      await waitFor(async () => (await Promise.all(ports.map(clusterOk))).every(Boolean), 'cluster_state:ok after the restart', { timeoutMs: 20_000, intervalMs: 100 })
    },
    stop,
  }
}
