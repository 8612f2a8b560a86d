// Expands a dashboard's ClickHouse SQL the way Grafana and grafana-clickhouse-datasource do
// before the SQL reaches ClickHouse:
//   1. frontend: $__conditionalAll(cond, $var) -> cond, or 1=1 when $var is All or empty
//      (CHDatasource.applyConditionalAll, innermost-last by lastIndexOf);
//   2. frontend: template variables ($var, ${var}, ${var:singlequote}, link-scoped ${__value.raw});
//   3. backend (pkg/macros/macros.go via sqlds): $__timeFilter(c), $__timeFilter_ms(c),
//      $__fromTime, $__toTime, $__fromTime_ms, $__toTime_ms, $__dateFilter(c),
//      $__timeInterval(c), $__timeInterval_ms(c), $__interval_s.
// Anything else spelled $__name is an error here, as sqlds leaves unknown macros in the SQL
// for ClickHouse to reject.

export interface TemplateVariable {
  /** Selected values; ['$__all'] is Grafana's All. */
  values: string[];
  /** Every value the variable can take (what All expands to when no allValue is set). */
  options: string[];
  allValue?: string;
}

export interface ExpandContext {
  from: Date;
  to: Date;
  /** Grafana's computed interval for the panel, in milliseconds. */
  intervalMs: number;
  variables: Record<string, TemplateVariable>;
  scoped?: Record<string, string>;
}

const ALL = '$__all';

/** Arguments of a call whose '(' is at `open`, split on top-level commas; also the index after ')'. */
function macroArgs(sql: string, open: number): { args: string[]; end: number } {
  let depth = 0;
  let quote: string | null = null;
  let start = open + 1;
  const args: string[] = [];
  for (let i = open; i < sql.length; i++) {
    const c = sql[i]!;
    if (quote !== null) {
      if (c === quote && sql[i - 1] !== '\\') quote = null;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) {
        args.push(sql.slice(start, i));
        return { args, end: i + 1 };
      }
    } else if (c === ',' && depth === 1) {
      args.push(sql.slice(start, i));
      start = i + 1;
    }
  }
  throw new Error(`unbalanced parentheses after position ${open} in: ${sql}`);
}

function isAll(v: TemplateVariable | undefined): boolean {
  return v === undefined || v.values.length === 0 || v.values.join(',') === '' || v.values.includes(ALL);
}

function applyConditionalAll(sql: string, variables: Record<string, TemplateVariable>): string {
  const macro = '$__conditionalAll(';
  let at = sql.lastIndexOf(macro);
  while (at !== -1) {
    const { args, end } = macroArgs(sql, at + macro.length - 1);
    if (args.length !== 2) throw new Error(`$__conditionalAll needs 2 arguments, got ${args.length}`);
    const name = /\$\{?(\w+)/.exec(args[1]!.trim())?.[1];
    if (name === undefined) throw new Error(`$__conditionalAll second argument is not a variable: ${args[1]}`);
    const phrase = isAll(variables[name]) ? '1=1' : args[0]!;
    sql = sql.slice(0, at) + phrase + sql.slice(end);
    at = sql.lastIndexOf(macro);
  }
  return sql;
}

function resolvedValues(v: TemplateVariable): string[] {
  if (!v.values.includes(ALL)) return v.values;
  return v.allValue !== undefined ? [v.allValue] : v.options;
}

function formatValues(values: string[], format: string | undefined): string {
  switch (format) {
    case undefined:
    case 'raw':
      return values.join(',');
    case 'singlequote':
      return values.map((x) => `'${x.replace(/'/g, "\\'")}'`).join(',');
    case 'doublequote':
      return values.map((x) => `"${x.replace(/"/g, '\\"')}"`).join(',');
    case 'csv':
      return values.join(',');
    case 'regex':
      return values.length === 1 ? values[0]! : `(${values.join('|')})`;
    default:
      throw new Error(`unsupported variable format ${format}`);
  }
}

function replaceVariables(sql: string, ctx: ExpandContext): string {
  return sql.replace(
    /\$\{([\w.]+)(?::(\w+))?\}|\$(?!__)(\w+)/g,
    (whole, braced: string | undefined, format: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare)!;
      if (ctx.scoped !== undefined && name in ctx.scoped) return ctx.scoped[name]!;
      const v = ctx.variables[name];
      if (v === undefined) throw new Error(`unknown template variable ${whole}`);
      return formatValues(resolvedValues(v), format);
    },
  );
}

const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);
const dateTime = (d: Date): string => `toDateTime(${seconds(d)})`;
const dateTime64 = (d: Date): string => `fromUnixTimestamp64Milli(${d.getTime()})`;
const date = (d: Date): string => `toDate('${d.toISOString().slice(0, 10)}')`;

function one(name: string, args: string[]): string {
  if (args.length !== 1) throw new Error(`$__${name}: expected 1 argument, received ${args.length}`);
  return args[0]!.trim();
}

function expandBackendMacros(sql: string, ctx: ExpandContext): string {
  const intervalS = Math.max(Math.floor(ctx.intervalMs / 1000), 1);
  const intervalMs = Math.max(ctx.intervalMs, 1);
  const withArgs: Record<string, (args: string[]) => string> = {
    timeFilter: (a) =>
      `${one('timeFilter', a)} >= ${dateTime(ctx.from)} AND ${one('timeFilter', a)} <= ${dateTime(ctx.to)}`,
    timeFilter_ms: (a) =>
      `${one('timeFilter_ms', a)} >= ${dateTime64(ctx.from)} AND ${one('timeFilter_ms', a)} <= ${dateTime64(ctx.to)}`,
    dateFilter: (a) => `${one('dateFilter', a)} >= ${date(ctx.from)} AND ${one('dateFilter', a)} <= ${date(ctx.to)}`,
    timeInterval: (a) => `toStartOfInterval(toDateTime(${one('timeInterval', a)}), INTERVAL ${intervalS} second)`,
    timeInterval_ms: (a) =>
      `toStartOfInterval(toDateTime64(${one('timeInterval_ms', a)}, 3), INTERVAL ${intervalMs} millisecond)`,
  };
  const bare: Record<string, string> = {
    fromTime: dateTime(ctx.from),
    toTime: dateTime(ctx.to),
    fromTime_ms: dateTime64(ctx.from),
    toTime_ms: dateTime64(ctx.to),
    interval_s: String(intervalS),
  };
  let out = '';
  let last = 0;
  const token = /\$__(\w+)/g;
  for (let m = token.exec(sql); m !== null; m = token.exec(sql)) {
    const name = m[1]!;
    out += sql.slice(last, m.index);
    const fn = withArgs[name];
    if (fn !== undefined) {
      const open = m.index + m[0].length;
      if (sql[open] !== '(') throw new Error(`$__${name} needs arguments`);
      const { args, end } = macroArgs(sql, open);
      out += fn(args);
      last = end;
      token.lastIndex = end;
    } else if (name in bare) {
      out += bare[name];
      last = m.index + m[0].length;
    } else {
      throw new Error(`unknown macro $__${name}`);
    }
  }
  return out + sql.slice(last);
}

/** The SQL ClickHouse receives for a dashboard query. */
export function expandQuery(rawSql: string, ctx: ExpandContext): string {
  return expandBackendMacros(replaceVariables(applyConditionalAll(rawSql, ctx.variables), ctx), ctx);
}
