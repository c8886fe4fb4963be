/**
 * The gate's counters, kept in this process: challenges issued, solutions accepted (`solved`),
 * solutions refused (`failed`, also by reason), requests let through by a valid pass (`bypassed`),
 * and passes issued and refreshed. Plain numbers, so that a metrics registry (prom-client's
 * `/metrics`, issue 15) can read them with a collect callback; nothing else depends on them.
 */
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
  challengeMetrics.failedBy[reason] = (challengeMetrics.failedBy[reason] ?? 0) + 1;
}
