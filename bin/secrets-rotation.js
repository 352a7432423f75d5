#!/usr/bin/env node
// Entry point of the `secrets-rotation` CLI. TypeScript is compiled on the fly by tsx (a runtime dependency).
"use strict";
require("tsx/cjs");
const { runCli } = require("../automation/entry.ts");
runCli();
