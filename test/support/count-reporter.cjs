// The mocha reporter of `npm test`: mocha's own `spec` output, then one closing line
// `N passed, N failed` (pending tests, if any, as `, N skipped`), which CI reads.
'use strict';
const Mocha = require('mocha');

const { Spec } = Mocha.reporters;
const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;

class CountReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    runner.on(EVENT_TEST_PASS, () => { passed += 1; });
    // A failing hook counts as a failure too: mocha reports it through the same event.
    runner.on(EVENT_TEST_FAIL, () => { failed += 1; });
    runner.on(EVENT_TEST_PENDING, () => { skipped += 1; });
    // After spec's own epilogue (registered in super), so the line is the run's last.
    runner.once(EVENT_RUN_END, () => {
      process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
    });
  }
}

module.exports = CountReporter;
