import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/config.js'
import { useTestContext } from '../helpers/test-context.js'
import { kustomize, manifestsRoot, type K8sObject } from './kustomize.js'

/** deploy/kubernetes, rendered the way `kubectl apply -k` would, checked against the API schemas and the app. */
const context = useTestContext()
const overlay = join(manifestsRoot, 'overlays/example')
const rendered = kustomize(overlay)
const root = resolve(import.meta.dirname, '../..')

type Container = {
  name: string
  image: string
  command?: string[]
  ports?: { name?: string; containerPort: number }[]
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[]
  env?: { name: string; value?: string }[]
  securityContext?: { runAsNonRoot?: boolean; readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } }
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> }
  livenessProbe?: { httpGet?: { path: string; port: string | number } }
  readinessProbe?: { httpGet?: { path: string; port: string | number } }
  startupProbe?: { httpGet?: { path: string; port: string | number } }
  lifecycle?: { preStop?: { exec?: { command: string[] } } }
}
type PodSpec = { containers: Container[]; securityContext?: { runAsNonRoot?: boolean }; terminationGracePeriodSeconds?: number }
type PodTemplate = { metadata: { labels: Record<string, string> }; spec: PodSpec }

const find = <T = Record<string, unknown>>(kind: string, name?: string) => {
  const object = rendered.find((candidate) => candidate.kind === kind && (name === undefined || candidate.metadata.name === name))
  if (!object) throw new Error(`no ${kind} ${name ?? ''} in the rendered manifests`)
  return object as K8sObject & T
}
const deployment = find<{ spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: PodTemplate } }>('Deployment')
const job = find<{ spec: { template: PodTemplate } }>('Job')
const configMap = find<{ data: Record<string, string> }>('ConfigMap')
const secret = find<{ stringData: Record<string, string> }>('Secret')
const app = deployment.spec.template.spec.containers.find((container) => container.name === 'app')!
const pods = [deployment.spec.template, job.spec.template]

type Model = new (data: unknown) => { validate(): void }
// Spelled out, so the bundler sees each module; an apiVersion missing here fails the test by name.
const MODEL_MODULES: Record<string, () => Promise<unknown>> = {
  v1: () => import('kubernetes-models/v1'),
  'apps/v1': () => import('kubernetes-models/apps/v1'),
  'batch/v1': () => import('kubernetes-models/batch/v1'),
  'autoscaling/v2': () => import('kubernetes-models/autoscaling/v2'),
  'policy/v1': () => import('kubernetes-models/policy/v1'),
  'networking.k8s.io/v1': () => import('kubernetes-models/networking.k8s.io/v1'),
}

/** The model class of kubernetes-models for an object's apiVersion and kind. */
async function modelFor(object: K8sObject): Promise<Model> {
  const load = MODEL_MODULES[object.apiVersion]
  if (!load) throw new Error(`no kubernetes-models module listed for ${object.apiVersion}`)
  const model = ((await load()) as Record<string, Model>)[object.kind]
  if (!model) throw new Error(`kubernetes-models has no ${object.apiVersion} ${object.kind}`)
  return model
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([key, value]) => labels[key] === value)

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  it('render every kind the deployment needs, and the same objects as kubectl kustomize where it is installed', () => {
    expect(rendered.map((object) => object.kind).sort()).toEqual(
      ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'Job', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'Secret', 'Service'].sort(),
    )
    expect(rendered.filter((object) => object.kind !== 'Namespace').every((object) => object.metadata.namespace === 'carbelsad')).toBe(true)
    expect(app.image).toBe('ghcr.io/example/carbelsad:0.1.0')
    expect(deployment.spec.replicas).toBe(3)
    expect(configMap.data.PUBLIC_URL).toBe('https://api.example.com')

    const kubectl = spawnSync('kubectl', ['kustomize', overlay], { encoding: 'utf8' })
    if (kubectl.error) return // No kubectl here (Debian does not package it): the renderer above stands alone.
    expect(kubectl.status, kubectl.stderr).toBe(0)
    const theirs = parseAllDocuments(kubectl.stdout).map((document) => document.toJS() as K8sObject)
    const key = (object: K8sObject) => `${object.kind}/${object.metadata.name}`
    const sorted = (objects: K8sObject[]) => [...objects].sort((a, b) => key(a).localeCompare(key(b)))
    expect(sorted(rendered)).toEqual(sorted(theirs))
  })

  it('pass the Kubernetes API schemas (kubernetes-models), which do refuse a broken object', async () => {
    for (const object of rendered) {
      const Model = await modelFor(object)
      expect(() => new Model(object).validate(), `${object.kind} ${object.metadata.name}`).not.toThrow()
    }
    const Model = await modelFor(deployment)
    const broken = structuredClone(deployment) as unknown as { spec: { replicas: unknown } }
    broken.spec.replicas = 'three'
    expect(() => new Model(broken).validate()).toThrow()
  })

  describe('the pods', () => {
    let routes: { hasRoute(route: { method: 'GET'; url: string }): boolean }
    beforeAll(async () => {
      routes = await context.buildApp()
    })

    it('probe routes that exist in the app, on the port it listens on (PORT)', () => {
      const port = Number(configMap.data.PORT)
      expect(loadConfig({ ...configMap.data, SECRET_KEY: 'k'.repeat(48) }).port).toBe(port)
      const http = app.ports!.find((candidate) => candidate.name === 'http')!
      expect(http.containerPort).toBe(port)
      const probes = [app.livenessProbe, app.readinessProbe, app.startupProbe].map((probe) => probe!.httpGet!)
      expect(probes.map((probe) => probe.path)).toEqual(['/api/v1/health/live', '/api/v1/health/ready', '/api/v1/health/live'])
      for (const probe of probes) {
        expect(routes.hasRoute({ method: 'GET', url: probe.path }), probe.path).toBe(true)
        expect(probe.port === 'http' || probe.port === port).toBe(true)
      }
      const service = find<{ spec: { selector: Record<string, string>; ports: { targetPort: string | number }[] } }>('Service')
      expect(service.spec.ports.map((entry) => entry.targetPort)).toEqual(['http'])
      expect(matches(service.spec.selector, deployment.spec.template.metadata.labels)).toBe(true)
      const policy = find<{ spec: { podSelector: { matchLabels: Record<string, string> }; ingress: { ports: { port: string | number }[] }[] } }>('NetworkPolicy')
      expect(policy.spec.ingress.flatMap((rule) => rule.ports.map((entry) => entry.port))).toEqual(['http'])
      expect(matches(policy.spec.podSelector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true)
    })

    it('get a grace period longer than the preStop pause plus the app shutdown (src/server.ts)', () => {
      const shutdownMs = Number(/const SHUTDOWN_GRACE_MS = ([\d_]+)/.exec(readFileSync(join(root, 'src/server.ts'), 'utf8'))?.[1]?.replace(/_/g, ''))
      expect(shutdownMs).toBeGreaterThan(0)
      const preStop = app.lifecycle!.preStop!.exec!.command
      expect(preStop[0]).toBe('sleep')
      const pauseSeconds = Number(preStop[1])
      expect(pauseSeconds).toBeGreaterThan(0)
      expect(deployment.spec.template.spec.terminationGracePeriodSeconds!).toBeGreaterThan(pauseSeconds + shutdownMs / 1000)
    })

    it('run as non-root, on a read-only root filesystem, without privilege escalation or capabilities, with resources', () => {
      for (const pod of pods) {
        for (const container of pod.spec.containers) {
          const name = `${pod.metadata.labels['app.kubernetes.io/component']}/${container.name}`
          expect(pod.spec.securityContext?.runAsNonRoot ?? container.securityContext?.runAsNonRoot, name).toBe(true)
          expect(container.securityContext, name).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } })
          expect(container.resources?.requests?.cpu, name).toBeDefined()
          expect(container.resources?.requests?.memory, name).toBeDefined()
          expect(container.resources?.limits?.memory, name).toBeDefined()
        }
      }
    })

    it('never migrate (AUTO_MIGRATE=false); the migration Job does, with the same image and settings', () => {
      expect(configMap.data.AUTO_MIGRATE).toBe('false')
      for (const pod of pods) {
        for (const container of pod.spec.containers) {
          expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }, { secretRef: { name: secret.metadata.name } }])
          expect(container.env?.find((variable) => variable.name === 'AUTO_MIGRATE')).toBeUndefined()
        }
      }
      const [migrate] = job.spec.template.spec.containers
      expect(migrate!.image).toBe(app.image)
      expect(migrate!.command).toEqual(['node', 'dist/scripts/migrate.js'])
      // dist/scripts/migrate.js is compiled from this file (the Dockerfile copies dist/).
      expect(existsSync(join(root, 'src/scripts/migrate.ts'))).toBe(true)
    })

    it('scale on CPU and keep one pod at most away during disruptions', () => {
      const hpa = find<{ spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number; maxReplicas: number; metrics: { resource: { name: string } }[] } }>(
        'HorizontalPodAutoscaler',
      )
      expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name })
      expect(hpa.spec.metrics.map((metric) => metric.resource.name)).toEqual(['cpu'])
      expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2)
      const pdb = find<{ spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget')
      expect(pdb.spec.maxUnavailable).toBe(1)
      expect(matches(pdb.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true)
      // The Job's pod is not an API pod: neither the budget nor the Service counts it.
      expect(matches(pdb.spec.selector.matchLabels, job.spec.template.metadata.labels)).toBe(false)
    })

    it('carry example settings the app accepts once SECRET_KEY is real: pooler, direct migrations, Redis Cluster', () => {
      expect(() => loadConfig({ ...configMap.data, ...secret.stringData })).toThrow(/SECRET_KEY/)
      const config = loadConfig({ ...configMap.data, ...secret.stringData, SECRET_KEY: 'k'.repeat(48) })
      expect(config).toMatchObject({ autoMigrate: false, databasePrepare: false, workers: 1, trustProxy: 1 })
      expect(config.databaseMigrationUrl).toMatch(/^postgres:\/\/carbelsad:password@postgres\.db\.svc:5432\//)
      expect(config.redisClusterNodes).toHaveLength(3)
    })
  })
})
