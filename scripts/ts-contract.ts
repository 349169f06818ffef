// Prints the TypeScript side's facts of the kernel–view contract as one JSON object, for
// tests/python/test_contract.py to compare with Python's: `node --import tsx scripts/ts-contract.ts`.
import * as contract from "../src/contract.ts";
import * as registry from "../src/registry.ts";
import { KERNEL_MESSAGE_KEYS, VIEW_MESSAGE_KEYS } from "../src/transport/messages.ts";
import { TRAIT_NAMES } from "../src/model.ts";

const facts = {
  PROTOCOL_VERSION: contract.PROTOCOL_VERSION,
  VERSION: contract.VERSION,
  REDUCERS: contract.REDUCERS,
  IMAGE_FORMATS: contract.IMAGE_FORMATS,
  NOTICE_LEVELS: contract.NOTICE_LEVELS,
  DEFAULT_MAX_FRAMES: contract.DEFAULT_MAX_FRAMES,
  SEVERITIES: registry.SEVERITIES,
  NOTIFY_SEVERITIES: registry.NOTIFY_SEVERITIES,
  METRIC_NAMES: registry.METRIC_NAMES,
  KNN_K: registry.KNN_K,
  GROUP_METRICS: registry.GROUP_METRICS,
  GROUP_SEPARATOR: registry.GROUP_SEPARATOR,
  CHART_PANELS: registry.CHART_PANELS,
  GROUP_PANELS: registry.GROUP_PANELS,
  KERNEL_MESSAGE_KEYS,
  VIEW_MESSAGE_KEYS,
  TRAIT_NAMES,
};

console.log(JSON.stringify(facts, null, 2));
