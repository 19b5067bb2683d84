/** The fleet simulator's public surface: runs on a broker or in simulated time, truth, replay. */
export { buildFleet, type DeviceSpec, type FleetProfile, loadProfile, profileSymbols } from './profile.js';
export { replayTraffic, type TrafficMessage } from './replay.js';
export { mulberry32 } from './rng.js';
export {
  type SimHandle,
  type SimOptions,
  type SimStats,
  startSimulation,
  streamMappingRules,
} from './run.js';
export { DEMO_SCENARIO, type Fault, parseScenario, type Scenario } from './scenario.js';
export { STREAMS, type StreamRule, streamOf } from './streams.js';
export {
  classifyReply,
  classifyReplyPayload,
  type Outcome,
  PAGE_SYMBOL,
  type ReplyInfo,
  type Truth,
  TruthLedger,
} from './truth.js';
export { runVirtual, type VirtualRun, type VirtualRunOptions } from './virtual.js';
