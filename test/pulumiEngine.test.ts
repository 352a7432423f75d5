/**
 * How the real Automation API engine classifies Pulumi's failures (the Pulumi CLI cannot run here, so the errors are
 * built with the Automation API's own error factory from the output the CLI prints in each case). The same failures
 * raised by the SDK itself from the pulumi CLI double's output (no stack, a held lock, a cancelled or failed update)
 * are in test/cliEndToEnd.test.ts.
 */
import { describe, expect, it } from "vitest";
import { classify } from "../automation/pulumiEngine";
import { engineFailure } from "../automation/stackState";

// Internal to the SDK (not in its typings): the factory the Automation API uses for a failed `pulumi` invocation.
const { CommandResult } = require("@pulumi/pulumi/automation/cmd") as { CommandResult: new (o: string, e: string, c: number, err?: Error) => unknown };
const { createCommandError } = require("@pulumi/pulumi/automation/errors") as { createCommandError: (r: unknown) => Error };
const failure = (stderr: string, stdout = "", code = 255) => createCommandError(new CommandResult(stdout, stderr, code));

describe("Automation API error classification", () => {
    it.each([
        ["error: [409] Conflict: Another update is currently in progress.", "concurrent", 4, "another update of stack staging is in progress; nothing was changed, retry when it has finished"],
        ["error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.", "concurrent", 4, "another update of stack staging is in progress; nothing was changed, retry when it has finished"],
        ["error: no stack named 'staging' found", "stack-not-found", 3, "stack staging does not exist in the Pulumi backend (pulumi stack init staging): no stack named 'staging' found"],
    ])("%s -> %s (exit %i)", (stderr, kind, code, message) => {
        const err = classify(failure(stderr));
        expect(err.kind).toBe(kind);
        const cli = engineFailure(err, "staging");
        expect(cli.code).toBe(code);
        expect(cli.message).toBe(message);
    });

    it("a failed update reports its most specific error line, not the whole output", () => {
        const stdout = "Updating (staging)\n  +  command:local:Command health-check creating\n  health-check error: [health-check] error: health check failed: https://api/health (HTTP 503 after 20 attempts, expected 200)\n";
        const err = classify(failure("error: update failed", stdout));
        expect(err.kind).toBe("failed");
        expect(err.message).toBe("health-check error: [health-check] error: health check failed: https://api/health (HTTP 503 after 20 attempts, expected 200)");
        expect(classify(failure("error: update failed")).message).toBe("error: update failed");
        expect(err.message.split("\n")).toHaveLength(1);
    });

    it("a missing Pulumi CLI is named as such", () => {
        // What `exec` builds when execa cannot spawn `pulumi` (automation/cmd.js: the catch wraps err.message, code -2).
        const spawnFailed = createCommandError(new CommandResult("", "spawn pulumi ENOENT", -2, new Error("spawn pulumi ENOENT")));
        expect(classify(spawnFailed).kind).toBe("unavailable");
    });

    // A cancelled `pulumi up` exits non-zero after "^C received; cancelling" and reaches the engine as the same
    // CommandError as any failure (automation/cmd.js `exec`); only the run's signal says it was cancelled.
    it("a cancelled update is a plain CommandError: cancelled exactly when the run's signal was aborted", () => {
        const cancelledUp = failure("error: update canceled", "^C received; cancelling. If you would like to terminate immediately, press ^C again.\n");
        expect(cancelledUp.name).toBe("CommandError");
        expect(classify(cancelledUp, true)).toMatchObject({ kind: "cancelled", message: "the operation was cancelled" });
        expect(classify(cancelledUp, false)).toMatchObject({ kind: "failed", message: "error: update canceled" });
        // A cancellation that surfaces as a 409 (the lock the cancelled update held) is still the user's cancellation.
        expect(classify(failure("error: [409] Conflict: Another update is currently in progress."), true).kind).toBe("cancelled");
        expect(engineFailure(classify(cancelledUp, true), "staging")).toMatchObject({ code: 1, message: "cancelled: the operation was cancelled" });
    });
});
