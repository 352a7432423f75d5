#!/usr/bin/env node
// Entry point of the `secrets-rotation` CLI: runs a bundle of the CLI's TypeScript, built when missing or stale
// (./bundle.js says how and why). Stack traces (`--verbose`) point into the TypeScript sources through its source map.
"use strict";
const { join } = require("node:path");
if (process.argv.includes("--verbose")) process.setSourceMapsEnabled(true);
require("./bundle").loadCli(join(__dirname, "..")).cli.runCli();
