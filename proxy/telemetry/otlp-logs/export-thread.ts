// The OTLP log export thread: the OpenTelemetry SDK's LoggerProvider, BatchLogRecordProcessor
// and exporter run here, so log serialization and the collector's traffic stay off the
// request thread. Records arrive as encoded strings; outcomes are reported back as counts.
import { ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { ExportResult } from '@opentelemetry/core';
import { ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchLogRecordProcessor,
  LoggerProvider,
  type LogRecordExporter,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import { parentPort, workerData } from 'node:worker_threads';
import { decodeWireLogs } from './wire-log.js';
import { lowerThisThreadsPriority } from '../background-priority.js';
import { receiveBatches, type FromExportThread, type ToExportThread } from '../export-pipeline.js';

export type LogExporterSpec =
  | { readonly kind: 'otlp-http'; readonly url: string; readonly headers: Record<string, string> }
  | { readonly kind: 'otlp-grpc'; readonly url: string };

export interface LogExportThreadData {
  exporter: LogExporterSpec;
  resourceAttributes: Record<string, string>;
  logName: string;
  maxQueueSize: number;
}

lowerThisThreadsPriority();
const port = parentPort!;
const data = workerData as LogExportThreadData;
const counts = { sent: 0, failed: 0, dropped: 0 };
let reportTimer: NodeJS.Timeout | null = null;
let queued = 0;

function report(): void {
  reportTimer = null;
  if (counts.sent + counts.failed + counts.dropped === 0) return;
  port.postMessage({ type: 'outcomes', ...counts } satisfies FromExportThread);
  counts.sent = counts.failed = counts.dropped = 0;
}

function count(kind: 'sent' | 'failed' | 'dropped', n: number): void {
  counts[kind] += n;
  if (reportTimer === null) reportTimer = setTimeout(report, 50);
}

/** Keeps the admission count in step with the processor's queue and counts outcomes. */
class CountingLogExporter implements LogRecordExporter {
  readonly #inner: LogRecordExporter;

  constructor(inner: LogRecordExporter) {
    this.#inner = inner;
  }

  export(logs: ReadableLogRecord[], resultCallback: (result: ExportResult) => void): void {
    queued = Math.max(0, queued - logs.length);
    this.#inner.export(logs, (result) => {
      count(result.code === ExportResultCode.SUCCESS ? 'sent' : 'failed', logs.length);
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

async function createExporter(spec: LogExporterSpec): Promise<LogRecordExporter> {
  if (spec.kind === 'otlp-http') {
    const { OTLPLogExporter } = await import('@opentelemetry/exporter-logs-otlp-http');
    return new OTLPLogExporter({ url: spec.url, headers: spec.headers });
  }
  const { OTLPLogExporter } = await import('@opentelemetry/exporter-logs-otlp-grpc');
  return new OTLPLogExporter({ url: spec.url });
}

const provider = new LoggerProvider({
  resource: resourceFromAttributes(data.resourceAttributes),
  processors: [
    new BatchLogRecordProcessor({
      exporter: new CountingLogExporter(await createExporter(data.exporter)),
      maxQueueSize: data.maxQueueSize,
    }),
  ],
});
const logger = provider.getLogger(data.logName);
const utf8 = new TextDecoder();

function onBatch(records: Uint8Array, _count: number, release: () => void): void {
  const text = utf8.decode(records);
  release();
  for (const l of decodeWireLogs(text)) {
    if (queued >= data.maxQueueSize) {
      count('dropped', 1);
      continue;
    }
    queued++;
    const ctx =
      l.traceId === ''
        ? ROOT_CONTEXT
        : trace.setSpanContext(ROOT_CONTEXT, {
            traceId: l.traceId,
            spanId: l.spanId,
            traceFlags: l.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
          });
    logger.emit({
      timestamp: l.timeMs,
      severityNumber: SeverityNumber.INFO,
      severityText: 'INFO',
      body: l.body,
      attributes: l.attributes,
      context: ctx,
    });
  }
}

receiveBatches(port, onBatch, (msg: ToExportThread) => {
  if (msg.type !== 'shutdown') return;
  void provider
    .shutdown()
    .catch(() => undefined)
    .then(() => {
      if (reportTimer !== null) clearTimeout(reportTimer);
      report();
      port.postMessage({ type: 'closed' } satisfies FromExportThread);
    });
});
