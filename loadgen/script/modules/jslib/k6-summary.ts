// jslib.k6.io/k6-summary, served built in: textSummary(data) renders the end-of-test summary
// that handleSummary(data) receives (meshscope's own renderer, k6's layout), and jUnit(data)
// writes the thresholds as JUnit XML test cases (a failed threshold is a failure).
import type { SummaryData } from '../../../summary/data.js';
import { renderSummary } from '../../../summary/text.js';

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function textSummary(data: SummaryData, opts?: { indent?: string; enableColors?: boolean }): string {
  if (data === null || typeof data !== 'object' || typeof data.metrics !== 'object')
    throw new Error('textSummary: pass the data object handleSummary(data) received');
  const text = renderSummary(data, 'compact');
  const indent = opts?.indent ?? '';
  return indent === '' ? text : text.replace(/^(?=.)/gm, indent);
}

export function jUnit(data: SummaryData, opts?: { name?: string; classname?: string }): string {
  if (data === null || typeof data !== 'object' || typeof data.metrics !== 'object')
    throw new Error('jUnit: pass the data object handleSummary(data) received');
  const cases: string[] = [];
  let failures = 0;
  for (const [metric, m] of Object.entries(data.metrics)) {
    for (const [source, t] of Object.entries(m.thresholds ?? {})) {
      const name = xml(`${metric} - ${source}`);
      const classname = xml(opts?.classname ?? 'Unnamed folder');
      if (t.ok) cases.push(`<testcase name="${name}" classname="${classname}" />`);
      else {
        failures++;
        cases.push(`<testcase name="${name}" classname="${classname}"><failure message="failed" /></testcase>`);
      }
    }
  }
  const suite = xml(opts?.name ?? 'k6 thresholds');
  return [
    '<?xml version="1.0"?>',
    `<testsuites tests="${cases.length}" failures="${failures}">`,
    `<testsuite name="${suite}" tests="${cases.length}" failures="${failures}">${cases.join('\n')}`,
    '</testsuite>',
    '</testsuites>',
  ].join('\n');
}

export function createK6SummaryModule(): Record<string, unknown> {
  const mod: Record<string, unknown> = { textSummary, jUnit };
  mod.default = mod;
  return mod;
}
