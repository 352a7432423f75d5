/**
 * How the real Automation API engine classifies Pulumi's failures (the Pulumi CLI cannot run here, so the errors are
 * built with the Automation API's own error factory from the output the CLI prints in each case).
 */
import { describe, expect, it } from "vitest";
import { classify } from "../automation/pulumiEngine";
import { engineFailure } from "../automation/engine";

// Internal to the SDK (not in its typings): the factory the Automation API uses for a failed `pulumi` invocation.
const { CommandResult } = require("@pulumi/pulumi/automation/cmd") as { CommandResult: new (o: string, e: string, c: number) => unknown };
const { createCommandError } = require("@pulumi/pulumi/automation/errors") as { createCommandError: (r: unknown) => Error };
const failure = (stderr: string, stdout = "") => createCommandError(new CommandResult(stdout, stderr, 255));

describe("Automation API error classification", () => {
    it.each([
        ["error: [409] Conflict: Another update is currently in progress.", "concurrent", 4, "another update of stack staging is in progress; nothing was changed, retry when it has finished"],
        ["error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.", "concurrent", 4, "another update of stack staging is in progress; nothing was changed, retry when it has finished"],
        ["error: no stack named 'staging' found", "stack-not-found", 3, "stack staging does not exist in the Pulumi backend (pulumi stack init staging): code: 255"],
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

    it("a missing Pulumi CLI and a cancellation are named as such", () => {
        expect(classify(new Error("spawn pulumi ENOENT")).kind).toBe("unavailable");
        const abort = Object.assign(new Error("This operation was aborted"), { name: "AbortError" });
        expect(classify(abort)).toMatchObject({ kind: "cancelled", message: "the operation was cancelled" });
    });
});
