#!/usr/bin/env node
/**
 * A DOUBLE of the `pulumi` CLI, just enough for the Automation API to drive it (the real CLI cannot be installed
 * here). It is not Pulumi. It records every invocation's arguments, answers `version`, `stack output` and
 * `stack history`, and for `up`/`preview` counts the signals it receives the way Pulumi reacts to them
 * (pulumi/pulumi pkg/backend/cancellation_scope.go: the first SIGINT/SIGTERM cancels — Pulumi finishes what is in
 * flight, then fails "update canceled" — the second terminates at once).
 *
 * Environment: FAKE_PULUMI_DIR (where `calls.jsonl`, `signals.log` and the `running` marker go),
 * FAKE_PULUMI_CANCEL_MS (how long cancelling takes, default 1000).
 */
"use strict";
const { appendFileSync, writeFileSync } = require("node:fs");
const { join } = require("node:path");

const dir = process.env.FAKE_PULUMI_DIR;
if (!dir) {
    process.stderr.write("error: FAKE_PULUMI_DIR is not set\n");
    process.exit(2);
}
const args = process.argv.slice(2);
appendFileSync(join(dir, "calls.jsonl"), `${JSON.stringify(args)}\n`);

const [command, sub] = args;
if (command === "version") {
    process.stdout.write("v3.248.0\n");
} else if (command === "stack" && sub === "output") {
    process.stdout.write("{}\n");
} else if (command === "stack" && sub === "history") {
    process.stdout.write("[]\n");
} else if (command === "stack" && sub === "select") {
    // What `pulumi stack select` does: remember the stack the checkout's raw commands use.
    writeFileSync(join(dir, "selected"), args[args.indexOf("--stack") + 1] ?? "");
} else if (command === "up" || command === "preview") {
    let received = 0;
    const onSignal = (signal) => {
        received++;
        appendFileSync(join(dir, "signals.log"), `${signal}\n`);
        if (received === 1) {
            process.stdout.write("^C received; cancelling. If you would like to terminate immediately, press ^C again.\n");
            setTimeout(() => {
                process.stderr.write(`error: ${command === "up" ? "update" : "preview"} canceled\n`);
                process.exit(255);
            }, Number(process.env.FAKE_PULUMI_CANCEL_MS ?? 1000));
        } else {
            process.stdout.write("^C received; terminating\n");
            process.exit(255);
        }
    };
    process.on("SIGINT", () => onSignal("SIGINT"));
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    process.stdout.write(`Updating (${args[args.indexOf("--stack") + 1]})\n`);
    writeFileSync(join(dir, "running"), String(process.pid));
    // A long update; the test interrupts it.
    setTimeout(() => {
        process.stderr.write("error: the fake update was never interrupted\n");
        process.exit(1);
    }, 60_000);
} else {
    process.stderr.write(`error: the pulumi double does not know \`${args.join(" ")}\`\n`);
    process.exit(2);
}
