interface PagerProps {
  skip: number
  limit: number
  total: number
  onSkip(skip: number): void
  /** What is being paged, for the screen-reader label ("users", "audit entries"). */
  noun: string
}

export function Pager({ skip, limit, total, onSkip, noun }: PagerProps) {
  const first = total === 0 ? 0 : skip + 1
  const last = Math.min(skip + limit, total)
  return (
    <nav class="pager" aria-label={`Pages of ${noun}`}>
      <button type="button" class="button" onClick={() => onSkip(Math.max(0, skip - limit))} disabled={skip === 0}>
        Previous
      </button>
      <span aria-live="polite">
        {first}–{last} of {total} {noun}
      </span>
      <button type="button" class="button" onClick={() => onSkip(skip + limit)} disabled={last >= total}>
        Next
      </button>
    </nav>
  )
}
