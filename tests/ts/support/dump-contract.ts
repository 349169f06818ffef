// Prints the TypeScript side of the kernel–view contract as JSON, for tests/python/test_contract.py.
import * as contract from "../../../src/contract.ts";
import { KERNEL_MESSAGE_KEYS, VIEW_MESSAGE_KEYS } from "../../../src/transport/messages.ts";
import { TRAIT_NAMES } from "../../../src/model.ts";

console.log(JSON.stringify({ ...contract, KERNEL_MESSAGE_KEYS, VIEW_MESSAGE_KEYS, TRAIT_NAMES }));
