// The span export thread, at a low CPU priority (background-priority.ts), so the collector's
// HTTP traffic never pauses the request thread. Batches arrive as span records the request
// thread wrote (span-record.ts); the thread writes their OTLP span fields into a buffer of its
// own, hands the records' buffer straight back, and for OTLP/HTTP sends the spans as one
// ExportTraceServiceRequest, framed in place. Exporters that take the SDK's span objects (gRPC,
// Zipkin) get the spans decoded and go through the SDK's batch processor. Outcomes are
// reported back as counts.
import { parentPort, workerData } from 'node:worker_threads';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { Attributes } from '@opentelemetry/api';
import { BatchExport } from './batch-export.js';
import { batchExportOptions, createSpanObjectExporter, type ExporterSpec } from './exporter-spec.js';
import { FinishedSpan } from './finished-span.js';
import { OtlpHttpSpanExporter } from './otlp-http-exporter.js';
import { decodeSpans, OtlpTraceRequestFramer, SCOPE } from './otlp-span.js';
import { spanRecordsToOtlp } from './span-record.js';
import { ProtoWriter } from '../telemetry/proto-writer.js';
import { lowerThisThreadsPriority } from '../telemetry/background-priority.js';
import { recycleBatch, type FromExportThread, type ToExportThread } from '../telemetry/export-pipeline.js';

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

/** Where batches go: send(spans, count) per batch, shutdown once; `done` once the bytes are free again. */
interface BatchSender {
  send(spans: Uint8Array, count: number, done: () => void): void;
  shutdown(): Promise<void>;
}

/** Room for a batch of 512 usual spans (about 200 KB) as OTLP; a buffer grows for larger ones. */
const OTLP_BUFFER_SIZE = 256 * 1024;
/** OTLP buffers kept for the next batches: one being sent, one spare. */
const MAX_SPARE_OTLP_BUFFERS = 2;
const spareOtlpBuffers: Buffer[] = [];

function requestSender(spec: Extract<ExporterSpec, { kind: 'otlp-proto' }>): BatchSender {
  const exporter = new OtlpHttpSpanExporter({
    url: spec.url,
    headers: spec.headers,
    timeoutMillis: spec.timeoutMillis,
  });
  const framer = new OtlpTraceRequestFramer(data.resourceAttributes, SCOPE);
  return {
    send(spans, count, done) {
      // Framed in the room left ahead of the spans; the buffer is reused once the transport
      // is done with it (the export has settled).
      exporter.export({ request: framer.frame(spans), count }, (result: ExportResult) => {
        if (result.code === ExportResultCode.SUCCESS) counts.sent += count;
        else counts.failed += count;
        done();
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
    send(spans, _count, done) {
      for (const s of decodeSpans(spans)) batch.submit(new FinishedSpan(s, resource));
      done();
      batch.flush();
    },
    shutdown: () => batch.shutdown(),
  };
}

const spec = data.exporter;
const sender = spec.kind === 'otlp-proto' ? requestSender(spec) : await spanObjectSender(spec);
/** Bytes left free ahead of a batch's spans, for its request's framing. */
const reserve = new OtlpTraceRequestFramer(data.resourceAttributes, SCOPE).maxPrefixLength;

/** A batch of span records as OTLP span fields, in a buffer of this thread's; the records go back at once. */
function sendRecords(records: Uint8Array, count: number): void {
  const w = new ProtoWriter(spareOtlpBuffers.pop() ?? Buffer.allocUnsafe(OTLP_BUFFER_SIZE));
  w.pos = reserve;
  spanRecordsToOtlp(records, count, w);
  recycleBatch(port, records);
  const buffer = w.buf;
  sender.send(new Uint8Array(buffer.buffer, buffer.byteOffset + reserve, w.pos - reserve), count, () => {
    // Only buffers of the usual size are kept; one grown for a huge batch is let go.
    if (buffer.length === OTLP_BUFFER_SIZE && spareOtlpBuffers.length < MAX_SPARE_OTLP_BUFFERS)
      spareOtlpBuffers.push(buffer);
  });
}

port.on('message', (msg: ToExportThread) => {
  if (msg.type === 'records') {
    sendRecords(msg.records, msg.count);
    return;
  }
  void sender.shutdown().then(() => {
    if (reportTimer !== null) clearTimeout(reportTimer);
    report();
    port.postMessage({ type: 'closed' } satisfies FromExportThread);
  });
});
port.postMessage({ type: 'outcomes', sent: 0, failed: 0, dropped: 0 } satisfies FromExportThread);
