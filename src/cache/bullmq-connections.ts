import { Cluster } from 'ioredis'
import { createRedisClient, type RedisClient } from './redis-client.js'
import { hashTag, type RedisTarget } from './redis-target.js'

export interface QueueConnectionOptions {
  target: RedisTarget
  /** REDIS_KEY_PREFIX; BullMQ wants a prefix of its own rather than an ioredis key prefix. */
  keyPrefix: string
  /**
   * Whether the producer queues commands while disconnected. Off for a producer that answers requests
   * (it should fail at once rather than hang); on for one that sends a few commands per interval.
   */
  producerOfflineQueue: boolean
  onError(error: Error): void
}

/**
 * How long a BullMQ worker waits before its loop tries again after a connection error (BullMQ's default
 * is 15 s). When a Redis master restarts, the worker's blocking connection reconnects while the cluster
 * is still settling and fails once more: with the default, a mail code or a housekeeping run then waited
 * 15 to 30 s after Redis was back. While Redis is away, a try every 2 s is one command per worker.
 */
export const WORKER_RETRY_DELAY_MS = 2_000

/** The two connections a queue and its worker run on, set up the same way by every BullMQ user in the app. */
export interface QueueConnections {
  readonly producer: RedisClient
  readonly consumer: RedisClient
  /** BullMQ's key prefix: "carbelsad" on one server, "{carbelsad}" on a cluster. */
  readonly prefix: string
  /** Both connections are up, so closing may wait for the jobs in progress. */
  live(): boolean
  /**
   * Calls back whenever the producer's Redis may have come back empty (no persistence): on every
   * (re)connection (`connected`), and in a cluster also when a node rejoins (`node`), since the cluster
   * as a whole stays ready while one master restarts.
   */
  onRestored(listener: (how: 'connected' | 'node') => void): void
  /**
   * Runs BullMQ's own closing (given whether it must force), bounded: while Redis is away BullMQ would
   * wait for it forever. Then drops the connections, which BullMQ leaves open.
   */
  close(closeQueue: (force: boolean) => Promise<unknown>): Promise<void>
}

/**
 * The BullMQ key prefix. A queue's Lua scripts touch many of its keys at once, which a cluster accepts
 * only when they share a slot: there the prefix is a hash tag. One server keeps the plain prefix, so
 * jobs already queued under it are not stranded by an upgrade.
 */
export function queuePrefix(keyPrefix: string, cluster: boolean): string {
  const base = keyPrefix.replace(/:+$/, '') || 'bull'
  return cluster ? hashTag(base) : base
}

export function createQueueConnections(options: QueueConnectionOptions): QueueConnections {
  // BullMQ requires maxRetriesPerRequest: null; the consumer waits patiently for Redis to return.
  const producer = createRedisClient(options.target, { maxRetriesPerRequest: null, enableOfflineQueue: options.producerOfflineQueue })
  const consumer = createRedisClient(options.target, { maxRetriesPerRequest: null })
  producer.on('error', options.onError)
  consumer.on('error', options.onError)
  const live = () => producer.status === 'ready' && consumer.status === 'ready'
  return {
    producer,
    consumer,
    prefix: queuePrefix(options.keyPrefix, options.target.clusterNodes !== undefined),
    live,
    onRestored(listener) {
      producer.on('ready', () => listener('connected'))
      if (producer instanceof Cluster) producer.on('+node', () => listener('node'))
    },
    async close(closeQueue) {
      const up = live()
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, up ? 10_000 : 1_000)
      })
      await Promise.race([closeQueue(!up).catch(() => undefined), deadline])
      clearTimeout(timer)
      producer.disconnect()
      consumer.disconnect()
    },
  }
}
