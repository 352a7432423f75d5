// Preloaded into a CLI process by tests (NODE_OPTIONS=--require ...): at exit, writes every loaded module's path
// to REPORT_MODULES_FILE, so a test can check what a command loaded.
"use strict";
const fs = require("node:fs");
process.on("exit", () => {
    fs.writeFileSync(process.env.REPORT_MODULES_FILE, Object.keys(require.cache).join("\n"));
});
