// The span export thread: the OpenTelemetry SDK's batch processor and exporter run here, at
// a low CPU priority (background-priority.ts), so protobuf/JSON serialization and the
// collector's HTTP traffic never pause the request thread. It receives finished spans in small
// batches of transport records (read in place by the OTLP encoder) and reports outcomes.
import { parentPort, workerData } from 'node:worker_threads';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Attributes } from '@opentelemetry/api';
import { BatchExport } from './batch-export.js';
import { batchExportOptions, createExporter, type ExporterSpec } from './exporter-spec.js';
import { FinishedSpan } from './finished-span.js';
import { wireRecordBounds } from './wire-span.js';
import { lowerThisThreadsPriority } from '../telemetry/background-priority.js';
import type { FromExportThread, ToExportThread } from '../telemetry/export-pipeline.js';

export interface ExportThreadData {
  exporter: ExporterSpec;
  resourceAttributes: Attributes;
}

lowerThisThreadsPriority();
const port = parentPort!;
const data = workerData as ExportThreadData;
const resource = resourceFromAttributes(data.resourceAttributes);
const counts = { sent: 0, failed: 0, dropped: 0 };
let reportTimer: NodeJS.Timeout | null = null;

function report(): void {
  reportTimer = null;
  if (counts.sent + counts.failed + counts.dropped === 0) return;
  const msg: FromExportThread = { type: 'outcomes', ...counts };
  counts.sent = counts.failed = counts.dropped = 0;
  port.postMessage(msg);
}

function scheduleReport(): void {
  if (reportTimer === null) reportTimer = setTimeout(report, 50);
}

/**
 * A finished export reports at once: the request thread counts spans as outstanding until
 * then, and 50 ms of a full-rate stream held back would fill its queue and drop spans.
 */
function reportNow(): void {
  if (reportTimer !== null) clearTimeout(reportTimer);
  report();
}

const exporter = await createExporter(data.exporter);
const batch = new BatchExport(
  exporter,
  {
    sent: (n) => {
      counts.sent += n;
      reportNow();
    },
    failed: (n) => {
      counts.failed += n;
      reportNow();
    },
    dropped: (n) => {
      counts.dropped += n;
      scheduleReport();
    },
  },
  batchExportOptions(),
);

port.on('message', (msg: ToExportThread) => {
  if (msg.type === 'records') {
    // Spans keep their byte range of the batch for the encoder.
    const bytes = msg.records;
    const bounds = wireRecordBounds(bytes);
    for (let i = 0; i < bounds.length; i += 2) batch.submit(new FinishedSpan(bytes, bounds[i]!, bounds[i + 1]!, resource));
    return;
  }
  void batch.shutdown().then(() => {
    if (reportTimer !== null) clearTimeout(reportTimer);
    report();
    port.postMessage({ type: 'closed' } satisfies FromExportThread);
  });
});
port.postMessage({ type: 'outcomes', sent: 0, failed: 0, dropped: 0 } satisfies FromExportThread);
