/**
 * The gate's counters: challenges issued, solutions accepted (`solved`), solutions refused
 * (`failed`, also by reason), requests let through by a valid pass (`bypassed`), and passes issued
 * and refreshed. Kept as plain numbers in this process (the tests read them) and as Prometheus
 * series on `/metrics` (`broker_challenge_events_total{event}` and
 * `broker_challenge_failures_total{reason}`, docs/metrics.md), summed over workers there.
 */
import { counter } from '../../platform/metrics/index.ts';

const events = counter('broker_challenge_events_total', 'Proof-of-work gate events: issued, solved, failed, bypassed (a valid pass), pass_issued, pass_refreshed', ['event']);
const failures = counter('broker_challenge_failures_total', 'Refused proof-of-work solutions, by reason', ['reason']);

/** Counts one gate event in both forms. */
export function countEvent(event: 'issued' | 'solved' | 'bypassed' | 'passesIssued' | 'passesRefreshed'): void {
  challengeMetrics[event]++;
  events.inc({ event: EVENT_NAMES[event] });
}

const EVENT_NAMES = { issued: 'issued', solved: 'solved', bypassed: 'bypassed', passesIssued: 'pass_issued', passesRefreshed: 'pass_refreshed' } as const;
export interface ChallengeMetrics {
  issued: number;
  solved: number;
  failed: number;
  bypassed: number;
  passesIssued: number;
  passesRefreshed: number;
  failedBy: Record<string, number>;
}

export const challengeMetrics: ChallengeMetrics = {
  issued: 0, solved: 0, failed: 0, bypassed: 0, passesIssued: 0, passesRefreshed: 0, failedBy: {},
};

export function countFailure(reason: string): void {
  challengeMetrics.failed++;
  events.inc({ event: 'failed' });
  failures.inc({ reason });
  challengeMetrics.failedBy[reason] = (challengeMetrics.failedBy[reason] ?? 0) + 1;
}
