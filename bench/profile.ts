/**
 * The top functions of a V8 CPU profile (.cpuprofile, what `--cpu-prof` writes) by self time:
 * samples attributed to the function itself, summed over every node of the call tree with the
 * same function, file and line. `(idle)` (the event loop waiting) is left out of the total, so a
 * share is of the time the process was busy; `(garbage collector)` and `(program)` stay in.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  startTime: number;
  endTime: number;
}

export interface TopFunction {
  name: string;
  /** `file:line` (1-based) relative to the project, `node:…` for Node's own code, or empty. */
  where: string;
  /** Share of the busy samples, 0-1. */
  selfShare: number;
}

export interface ProfileSummary {
  file: string;
  busyShare: number;
  top: TopFunction[];
}

function where(url: string, line: number): string {
  if (!url) return '';
  const path = url.startsWith('file://') ? relative(process.cwd(), new URL(url).pathname) : url;
  return `${path}:${line + 1}`;
}

export function topFunctions(file: string, n = 10): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const hits = new Map<number, number>();
  if (profile.samples?.length) for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  else for (const node of profile.nodes) hits.set(node.id, node.hitCount ?? 0);
  const byFunction = new Map<string, { name: string; where: string; count: number }>();
  let busy = 0;
  let total = 0;
  for (const node of profile.nodes) {
    const count = hits.get(node.id) ?? 0;
    total += count;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    busy += count;
    const name = functionName || '(anonymous)';
    const key = `${name}\u0000${url}\u0000${lineNumber}`;
    const entry = byFunction.get(key) ?? { name, where: where(url, lineNumber), count: 0 };
    entry.count += count;
    byFunction.set(key, entry);
  }
  const top = [...byFunction.values()].sort((a, b) => b.count - a.count).slice(0, n)
    .map((e) => ({ name: e.name, where: e.where, selfShare: busy ? e.count / busy : 0 }));
  return { file, busyShare: total ? busy / total : 0, top };
}
