import { useCallback, useState } from 'preact/hooks'
import type { Outcome, Problem } from '../api/errors.js'

/**
 * The busy flag and last problem of one form's submit. `run` returns the data, or undefined after
 * a failure (which is then in `problem`, field errors included).
 */
export function useAction() {
  const [busy, setBusy] = useState(false)
  const [problem, setProblem] = useState<Problem | null>(null)

  const run = useCallback(async <T>(task: () => Promise<Outcome<T>>): Promise<T | undefined> => {
    setBusy(true)
    setProblem(null)
    try {
      const outcome = await task()
      if (outcome.ok) return outcome.data
      setProblem(outcome.problem)
      return undefined
    } finally {
      setBusy(false)
    }
  }, [])

  return { busy, problem, setProblem, run, fieldError: (name: string) => problem?.fields[name] }
}
