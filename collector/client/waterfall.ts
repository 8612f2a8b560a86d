// A trace as a terminal waterfall: one line per span, indented under its parent (CHILD_OF),
// children in start order, each with its service, operation, offset and duration, a bar placed
// on the trace's time axis, and the span's error or HTTP status. Reads Jaeger's JSON model, so
// it draws any trace the Jaeger API serves.
import type { JaegerKeyValue, JaegerSpan, JaegerTrace } from '../api/jaeger-model.js';

const tag = (tags: readonly JaegerKeyValue[], key: string): JaegerKeyValue['value'] | undefined =>
  tags.find((t) => t.key === key)?.value;

function formatUs(us: number): string {
  if (us >= 1_000_000) return `${(us / 1_000_000).toFixed(2)}s`;
  if (us >= 1_000) return `${(us / 1_000).toFixed(2)}ms`;
  return `${Math.round(us)}µs`;
}

/** What marks a span as failed or shows its outcome: the OTel status, then the HTTP/gRPC status. */
function outcome(span: JaegerSpan): string {
  const error = tag(span.tags, 'error') === true || tag(span.tags, 'otel.status_code') === 'ERROR';
  const http = tag(span.tags, 'http.response.status_code') ?? tag(span.tags, 'http.status_code');
  const grpc = tag(span.tags, 'rpc.grpc.status_code');
  const parts = [
    ...(http !== undefined ? [String(http)] : []),
    ...(grpc !== undefined ? [`grpc ${grpc}`] : []),
    ...(error ? ['ERROR'] : []),
  ];
  return parts.join(' ');
}

export interface WaterfallOptions {
  /** Columns for the time bar. */
  barWidth?: number;
}

export function renderWaterfall(trace: JaegerTrace, o: WaterfallOptions = {}): string {
  const barWidth = o.barWidth ?? 40;
  const spans = [...trace.spans].sort((a, b) => a.startTime - b.startTime);
  if (spans.length === 0) return `trace ${trace.traceID}: no spans\n`;
  const ids = new Set(spans.map((s) => s.spanID));
  const children = new Map<string, JaegerSpan[]>();
  const roots: JaegerSpan[] = [];
  for (const s of spans) {
    const parent = s.references.find((r) => r.refType === 'CHILD_OF' && ids.has(r.spanID))?.spanID;
    if (parent === undefined) roots.push(s);
    else children.set(parent, [...(children.get(parent) ?? []), s]);
  }
  const start = spans[0]!.startTime;
  const end = Math.max(...spans.map((s) => s.startTime + s.duration));
  const total = Math.max(end - start, 1);
  const service = (s: JaegerSpan): string => trace.processes[s.processID]?.serviceName ?? s.processID;

  const rows: Array<{ label: string; span: JaegerSpan }> = [];
  const walk = (s: JaegerSpan, depth: number): void => {
    rows.push({ label: `${'  '.repeat(depth)}${service(s)}: ${s.operationName}`, span: s });
    for (const c of children.get(s.spanID) ?? []) walk(c, depth + 1);
  };
  for (const r of roots) walk(r, 0);

  const labelWidth = Math.min(Math.max(...rows.map((r) => r.label.length)), 70);
  const services = new Set(spans.map(service));
  const lines = [
    `trace ${trace.traceID}: ${spans.length} spans, ${services.size} services (${[...services].join(', ')}), ${formatUs(total)}`,
    '',
  ];
  for (const { label, span } of rows) {
    const from = Math.floor(((span.startTime - start) / total) * barWidth);
    const width = Math.max(1, Math.round((span.duration / total) * barWidth));
    const bar = `${' '.repeat(from)}${'█'.repeat(Math.min(width, barWidth - from))}`.padEnd(barWidth);
    const name = label.length > labelWidth ? `${label.slice(0, labelWidth - 1)}…` : label.padEnd(labelWidth);
    const offset = `+${formatUs(span.startTime - start)}`.padStart(10);
    lines.push(`${name}  ${offset} ${formatUs(span.duration).padStart(9)}  |${bar}|  ${outcome(span)}`.trimEnd());
  }
  return `${lines.join('\n')}\n`;
}
