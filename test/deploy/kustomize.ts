import { readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { parseAllDocuments } from 'yaml'

/**
 * The part of kustomize that deploy/kubernetes uses (resources, namespace, labels, images, strategic-merge
 * patches), so the manifests can be rendered where `kubectl kustomize` is not installed (Debian has no
 * kubectl package). Where kubectl is present, the test checks that both render the same objects.
 */
export type K8sObject = {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  [field: string]: unknown
}

interface Kustomization {
  resources?: string[]
  namespace?: string
  labels?: { pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean }[]
  images?: { name: string; newName?: string; newTag?: string }[]
  patches?: { path: string }[]
  [field: string]: unknown
}

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'labels', 'images', 'patches'])
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'StorageClass', 'IngressClass'])

export function readYamlObjects(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]!.message}`)
      return document.toJS() as K8sObject | null
    })
    .filter((object): object is K8sObject => object !== null)
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/** Strategic merge as the built-in types use it here: maps merge, lists of named items merge by name, other lists are replaced. */
function merge(base: unknown, patch: unknown): unknown {
  if (isObject(base) && isObject(patch)) {
    const out: Record<string, unknown> = { ...base }
    for (const [key, value] of Object.entries(patch)) out[key] = key in base ? merge(base[key], value) : value
    return out
  }
  if (Array.isArray(base) && Array.isArray(patch) && [...base, ...patch].every((item) => isObject(item) && typeof item.name === 'string')) {
    const out = base.map((item) => {
      const match = patch.find((candidate) => candidate.name === item.name)
      return match ? merge(item, match) : item
    })
    for (const item of patch) if (!base.some((candidate) => candidate.name === item.name)) out.push(item)
    return out
  }
  return patch
}

function setImages(value: unknown, images: NonNullable<Kustomization['images']>): unknown {
  if (Array.isArray(value)) return value.map((item) => setImages(item, images))
  if (!isObject(value)) return value
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'image' && typeof inner === 'string') {
      const [name, tag] = inner.split(':')
      const rule = images.find((image) => image.name === name)
      out[key] = rule ? `${rule.newName ?? name}:${rule.newTag ?? tag ?? 'latest'}` : inner
    } else out[key] = setImages(inner, images)
  }
  return out
}

/** Renders a kustomization directory into its objects. */
export function kustomize(directory: string): K8sObject[] {
  const file = join(directory, 'kustomization.yaml')
  const spec = readYamlObjects(file)[0] as unknown as Kustomization
  const unknown = Object.keys(spec).filter((key) => !SUPPORTED.has(key))
  if (unknown.length > 0) throw new Error(`${file}: this renderer does not know ${unknown.join(', ')}`)

  let objects: K8sObject[] = []
  for (const entry of spec.resources ?? []) {
    const path = resolve(directory, entry)
    objects.push(...(statSync(path).isDirectory() ? kustomize(path) : readYamlObjects(path)))
  }
  for (const entry of spec.patches ?? []) {
    for (const patch of readYamlObjects(resolve(directory, entry.path))) {
      const index = objects.findIndex((object) => object.kind === patch.kind && object.metadata.name === patch.metadata.name)
      if (index < 0) throw new Error(`${entry.path}: no ${patch.kind} ${patch.metadata.name} to patch`)
      objects[index] = merge(objects[index], patch) as K8sObject
    }
  }
  for (const label of spec.labels ?? []) {
    if (label.includeSelectors || label.includeTemplates) throw new Error(`${file}: labels with selectors or templates are not supported here`)
    objects = objects.map((object) => ({ ...object, metadata: { ...object.metadata, labels: { ...object.metadata.labels, ...label.pairs } } }))
  }
  if (spec.images) objects = objects.map((object) => setImages(object, spec.images!) as K8sObject)
  if (spec.namespace) {
    const namespace = spec.namespace
    objects = objects.map((object) => (CLUSTER_SCOPED.has(object.kind) ? object : { ...object, metadata: { ...object.metadata, namespace } }))
  }
  return objects
}

export const manifestsRoot = resolve(dirname(new URL(import.meta.url).pathname), '../../deploy/kubernetes')
