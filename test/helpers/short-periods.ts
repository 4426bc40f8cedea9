// Imported by tests that run many periods in a second: lowers the 1 s period floor for this test process only
// (config.ts testHooks; production code never writes it). The options are otherwise checked as always.
import { testHooks } from '../../src/config';

testHooks.minPeriodMillis = 100;
