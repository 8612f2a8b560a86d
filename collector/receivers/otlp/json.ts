// OTLP/JSON decoding (the protobuf JSON mapping with OTLP's exceptions): lowerCamelCase
// field names, enums as integers, trace/span ids as hex in either case, 64-bit integers as
// decimal strings or numbers. A value of the wrong JSON type is a 400 naming its path; an
// item with bad ids or no name is refused through partial success.

import { OtlpDecodeError } from '../../errors.js';
import {
  Refusals,
  serviceNameOf,
  type Attributes,
  type Decoded,
  type LogRecord,
  type ResourceContext,
  type ScopeContext,
  type SpanEvent,
  type SpanLink,
  type SpanRecord,
} from './model.js';
import { checkLog, checkSpan } from './validate.js';

/** As the protobuf decoder: stored in full up to this depth, refused deeper. */
const MAX_ANY_DEPTH = 128;
const HEX = /^[0-9a-fA-F]*$/;
const UINT64 = /^[0-9]{1,20}$/;
const INT64 = /^-?[0-9]{1,19}$/;

type Json = unknown;
type Obj = Record<string, unknown>;

const bad = (path: string, what: string): never => {
  throw new OtlpDecodeError(`invalid OTLP/JSON at ${path}: ${what}`);
};

function obj(v: Json, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'expected an object');
  return v as Obj;
}

function arr(v: Json, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(path, 'expected an array');
  return v as unknown[];
}

function str(v: Json, path: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') bad(path, 'expected a string');
  return v as string;
}

function uint(v: Json, path: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && UINT64.test(v)) return Number(v);
  return bad(path, 'expected a non-negative integer');
}

function nanos(v: Json, path: string): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && UINT64.test(v)) {
    const n = BigInt(v);
    if (n < 2n ** 64n) return n;
  }
  return bad(path, 'expected unix nanoseconds as a decimal string or integer');
}

/** Ids are hex in OTLP/JSON; stored lower-case like the protobuf path renders them. */
function hexId(v: Json, path: string): string {
  const s = str(v, path);
  return HEX.test(s) ? s.toLowerCase() : '!';
}

type AnyJson = string | number | boolean | null | AnyJson[] | { [k: string]: AnyJson };

function anyValueJson(v: Json, path: string, depth: number): AnyJson {
  if (depth > MAX_ANY_DEPTH) bad(path, `AnyValue nested deeper than ${MAX_ANY_DEPTH}`);
  if (v === undefined || v === null) return null;
  const o = obj(v, path);
  if ('stringValue' in o) return str(o.stringValue, `${path}.stringValue`);
  if ('boolValue' in o) {
    if (typeof o.boolValue !== 'boolean') bad(`${path}.boolValue`, 'expected a boolean');
    return o.boolValue as boolean;
  }
  if ('intValue' in o) {
    const iv = o.intValue;
    if (typeof iv === 'number' && Number.isInteger(iv)) return iv;
    if (typeof iv === 'string' && INT64.test(iv)) {
      const n = Number(iv);
      return Number.isSafeInteger(n) ? n : iv;
    }
    return bad(`${path}.intValue`, 'expected an integer');
  }
  if ('doubleValue' in o) {
    const dv = o.doubleValue;
    if (typeof dv === 'number') return dv;
    if (dv === 'NaN' || dv === 'Infinity' || dv === '-Infinity') return dv;
    return bad(`${path}.doubleValue`, 'expected a number');
  }
  if ('arrayValue' in o) {
    const values = arr(obj(o.arrayValue, `${path}.arrayValue`).values, `${path}.arrayValue.values`);
    return values.map((x, i) => anyValueJson(x, `${path}.arrayValue.values[${i}]`, depth + 1));
  }
  if ('kvlistValue' in o) {
    const values = arr(obj(o.kvlistValue, `${path}.kvlistValue`).values, `${path}.kvlistValue.values`);
    const out: { [k: string]: AnyJson } = {};
    values.forEach((x, i) => {
      const kv = obj(x, `${path}.kvlistValue.values[${i}]`);
      out[str(kv.key, `${path}.kvlistValue.values[${i}].key`)] = anyValueJson(
        kv.value,
        `${path}.kvlistValue.values[${i}].value`,
        depth + 1,
      );
    });
    return out;
  }
  if ('bytesValue' in o) return str(o.bytesValue, `${path}.bytesValue`);
  return null;
}

function anyValueString(v: Json, path: string): string {
  const j = anyValueJson(v, path, 0);
  if (j === null) return '';
  if (typeof j === 'string') return j;
  if (typeof j === 'number' || typeof j === 'boolean') return String(j);
  return JSON.stringify(j);
}

function attributes(v: Json, path: string): Attributes {
  const out: Attributes = [];
  arr(v, path).forEach((x, i) => {
    const kv = obj(x, `${path}[${i}]`);
    out.push(str(kv.key, `${path}[${i}].key`), anyValueString(kv.value, `${path}[${i}].value`));
  });
  return out;
}

function resourceContext(rs: Obj, path: string): ResourceContext {
  const schemaUrl = str(rs.schemaUrl, `${path}.schemaUrl`);
  if (rs.resource === undefined || rs.resource === null) return { serviceName: '', schemaUrl, attributes: [] };
  const attrs = attributes(obj(rs.resource, `${path}.resource`).attributes, `${path}.resource.attributes`);
  return { serviceName: serviceNameOf(attrs), schemaUrl, attributes: attrs };
}

function scopeContext(ss: Obj, path: string): ScopeContext {
  const schemaUrl = str(ss.schemaUrl, `${path}.schemaUrl`);
  if (ss.scope === undefined || ss.scope === null) return { name: '', version: '', schemaUrl, attributes: [] };
  const sc = obj(ss.scope, `${path}.scope`);
  return {
    name: str(sc.name, `${path}.scope.name`),
    version: str(sc.version, `${path}.scope.version`),
    schemaUrl,
    attributes: attributes(sc.attributes, `${path}.scope.attributes`),
  };
}

function parse(body: Buffer): Obj {
  let root: unknown;
  try {
    root = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new OtlpDecodeError(`invalid JSON: ${(err as Error).message}`);
  }
  return obj(root, '$');
}

function walk<T>(
  body: Buffer,
  resourceKey: string,
  scopeKey: string,
  itemKey: string,
  item: (o: Obj, path: string, res: ResourceContext, sc: ScopeContext, refusals: Refusals) => T | undefined,
): Decoded<T> {
  const root = parse(body);
  const items: T[] = [];
  const refusals = new Refusals();
  arr(root[resourceKey], `$.${resourceKey}`).forEach((r, i) => {
    const rPath = `$.${resourceKey}[${i}]`;
    const rs = obj(r, rPath);
    const res = resourceContext(rs, rPath);
    arr(rs[scopeKey], `${rPath}.${scopeKey}`).forEach((s, j) => {
      const sPath = `${rPath}.${scopeKey}[${j}]`;
      const ss = obj(s, sPath);
      const sc = scopeContext(ss, sPath);
      arr(ss[itemKey], `${sPath}.${itemKey}`).forEach((x, k) => {
        const path = `${sPath}.${itemKey}[${k}]`;
        const decoded = item(obj(x, path), path, res, sc, refusals);
        if (decoded !== undefined) items.push(decoded);
      });
    });
  });
  return { items, rejected: refusals.count, reasons: refusals.reasons };
}

function span(
  o: Obj,
  path: string,
  res: ResourceContext,
  sc: ScopeContext,
  refusals: Refusals,
): SpanRecord | undefined {
  const status = o.status === undefined || o.status === null ? {} : obj(o.status, `${path}.status`);
  const s: SpanRecord = {
    resource: res,
    scope: sc,
    traceId: hexId(o.traceId, `${path}.traceId`),
    spanId: hexId(o.spanId, `${path}.spanId`),
    parentSpanId: hexId(o.parentSpanId, `${path}.parentSpanId`),
    traceState: str(o.traceState, `${path}.traceState`),
    name: str(o.name, `${path}.name`),
    kind: uint(o.kind, `${path}.kind`),
    startNs: nanos(o.startTimeUnixNano, `${path}.startTimeUnixNano`),
    endNs: nanos(o.endTimeUnixNano, `${path}.endTimeUnixNano`),
    attributes: attributes(o.attributes, `${path}.attributes`),
    events: arr(o.events, `${path}.events`).map((e, i): SpanEvent => {
      const ev = obj(e, `${path}.events[${i}]`);
      return {
        timeNs: nanos(ev.timeUnixNano, `${path}.events[${i}].timeUnixNano`),
        name: str(ev.name, `${path}.events[${i}].name`),
        attributes: attributes(ev.attributes, `${path}.events[${i}].attributes`),
      };
    }),
    links: arr(o.links, `${path}.links`).map((l, i): SpanLink => {
      const lk = obj(l, `${path}.links[${i}]`);
      return {
        traceId: hexId(lk.traceId, `${path}.links[${i}].traceId`),
        spanId: hexId(lk.spanId, `${path}.links[${i}].spanId`),
        traceState: str(lk.traceState, `${path}.links[${i}].traceState`),
        attributes: attributes(lk.attributes, `${path}.links[${i}].attributes`),
      };
    }),
    statusCode: uint(status.code, `${path}.status.code`),
    statusMessage: str(status.message, `${path}.status.message`),
  };
  return checkSpan(s, refusals) ? s : undefined;
}

function logRecord(
  o: Obj,
  path: string,
  res: ResourceContext,
  sc: ScopeContext,
  refusals: Refusals,
): LogRecord | undefined {
  const l: LogRecord = {
    resource: res,
    scope: sc,
    timeNs: nanos(o.timeUnixNano, `${path}.timeUnixNano`),
    observedNs: nanos(o.observedTimeUnixNano, `${path}.observedTimeUnixNano`),
    traceId: hexId(o.traceId, `${path}.traceId`),
    spanId: hexId(o.spanId, `${path}.spanId`),
    flags: uint(o.flags, `${path}.flags`),
    severityText: str(o.severityText, `${path}.severityText`),
    severityNumber: uint(o.severityNumber, `${path}.severityNumber`),
    body: anyValueString(o.body, `${path}.body`),
    attributes: attributes(o.attributes, `${path}.attributes`),
    eventName: str(o.eventName, `${path}.eventName`),
  };
  return checkLog(l, refusals) ? l : undefined;
}

export function decodeTracesJson(body: Buffer): Decoded<SpanRecord> {
  return walk(body, 'resourceSpans', 'scopeSpans', 'spans', span);
}

export function decodeLogsJson(body: Buffer): Decoded<LogRecord> {
  return walk(body, 'resourceLogs', 'scopeLogs', 'logRecords', logRecord);
}
