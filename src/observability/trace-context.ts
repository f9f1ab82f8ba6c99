import { trace } from '@opentelemetry/api'

/** The active trace and span ids, for log lines; empty when tracing is off or nothing is active. */
export function traceIds(): { trace_id?: string; span_id?: string } {
  const span = trace.getActiveSpan()
  if (!span) return {}
  const { traceId, spanId } = span.spanContext()
  return { trace_id: traceId, span_id: spanId }
}
