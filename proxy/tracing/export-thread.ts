// The span export thread, at a low CPU priority (background-priority.ts), so the collector's
// HTTP traffic never pauses the request thread. Batches arrive as OTLP span fields the
// request thread wrote; for OTLP/HTTP each becomes one ExportTraceServiceRequest sent as it
// is. Exporters that take the SDK's span objects (gRPC, Zipkin) get the spans decoded and go
// through the SDK's batch processor. Outcomes are reported back as counts.
import { parentPort, workerData } from 'node:worker_threads';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { Attributes } from '@opentelemetry/api';
import { BatchExport } from './batch-export.js';
import { batchExportOptions, createSpanObjectExporter, type ExporterSpec } from './exporter-spec.js';
import { FinishedSpan } from './finished-span.js';
import { OtlpHttpSpanExporter } from './otlp-http-exporter.js';
import { decodeSpans, OtlpTraceRequestFramer, SCOPE } from './otlp-span.js';
import { lowerThisThreadsPriority } from '../telemetry/background-priority.js';
import { receiveBatches, type FromExportThread, type ToExportThread } from '../telemetry/export-pipeline.js';

export interface ExportThreadData {
  exporter: ExporterSpec;
  resourceAttributes: Attributes;
}

lowerThisThreadsPriority();
const port = parentPort!;
const data = workerData as ExportThreadData;
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
 * then, and a full-rate stream held back would fill its queue and drop spans.
 */
function reportNow(): void {
  if (reportTimer !== null) clearTimeout(reportTimer);
  report();
}

/** Where batches go: send(spans, count, release) per batch (release once done with `spans`), shutdown once. */
interface BatchSender {
  send(spans: Uint8Array, count: number, release: () => void): void;
  shutdown(): Promise<void>;
}

function requestSender(spec: Extract<ExporterSpec, { kind: 'otlp-proto' }>): BatchSender {
  const exporter = new OtlpHttpSpanExporter({
    url: spec.url,
    headers: spec.headers,
    timeoutMillis: spec.timeoutMillis,
  });
  const framer = new OtlpTraceRequestFramer(data.resourceAttributes, SCOPE);
  return {
    send(spans, count, release) {
      // Framed in the room the pipeline left ahead of the spans; the buffer goes back to the
      // request thread once the transport is done with it (the export has settled).
      exporter.export({ request: framer.frame(spans), count }, (result: ExportResult) => {
        if (result.code === ExportResultCode.SUCCESS) counts.sent += count;
        else counts.failed += count;
        release();
        reportNow();
      });
    },
    async shutdown() {
      try {
        await exporter.shutdown();
      } catch {
        // A collector that is down at shutdown loses the last batch; the failure is counted.
      }
    },
  };
}

async function spanObjectSender(spec: Exclude<ExporterSpec, { kind: 'otlp-proto' }>): Promise<BatchSender> {
  const resource = resourceFromAttributes(data.resourceAttributes);
  const batch = new BatchExport(
    await createSpanObjectExporter(spec),
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
  return {
    send(spans, _count, release) {
      for (const s of decodeSpans(spans)) batch.submit(new FinishedSpan(s, resource));
      release();
      batch.flush();
    },
    shutdown: () => batch.shutdown(),
  };
}

const spec = data.exporter;
const sender = spec.kind === 'otlp-proto' ? requestSender(spec) : await spanObjectSender(spec);

receiveBatches(port, sender.send, (msg: ToExportThread) => {
  if (msg.type !== 'shutdown') return;
  void sender.shutdown().then(() => {
    if (reportTimer !== null) clearTimeout(reportTimer);
    report();
    port.postMessage({ type: 'closed' } satisfies FromExportThread);
  });
});
port.postMessage({ type: 'outcomes', sent: 0, failed: 0, dropped: 0 } satisfies FromExportThread);
