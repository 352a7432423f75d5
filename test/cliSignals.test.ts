/**
 * What one Ctrl-C does (pure): the decision table of automation/interrupt.ts and how the CLI knows it is the
 * foreground of a terminal.
 *
 * - Not in a terminal (CI; `kill -INT <pid>`): the signal reaches the CLI only, and the CLI forwards exactly one
 *   SIGINT per Ctrl-C.
 * - In a terminal: the terminal already delivers SIGINT to the whole foreground process group, `pulumi` included, and
 *   the CLI forwards none.
 *
 * The same, end to end (the real CLI, the real Automation API, the pulumi CLI double counting the SIGINTs it receives,
 * a real pseudo-terminal made by util-linux `script`), is in test/cliEndToEnd.test.ts.
 */
import { describe, expect, it } from "vitest";
import { foregroundOfTerminal, onInterrupt } from "../automation/interrupt";

describe("what one interrupt does (pure)", () => {
    it.each([
        [1, true, { cancel: true, forward: false, exit: false }],
        [1, false, { cancel: true, forward: true, exit: false }],
        [2, true, { cancel: false, forward: false, exit: false }],
        [2, false, { cancel: false, forward: true, exit: false }],
        [3, true, { cancel: false, forward: false, exit: true }],
        [3, false, { cancel: false, forward: false, exit: true }],
    ])("interrupt %i, delivered by the terminal: %s -> %o", (count, fromTerminal, expected) => {
        expect(onInterrupt(count, fromTerminal)).toMatchObject(expected);
    });

    it.each([
        ["486 (node) S 484 486 486 34816 486 4194560", true, "foreground of its terminal"],
        ["486 (node) S 484 490 486 34816 486 4194560", false, "a background job of its terminal"],
        ["487 (node) S 482 482 8061 0 -1 4194560", false, "no controlling terminal (CI)"],
        ["488 (a b) c) S 1 488 488 34817 488 0", true, "a command name with spaces and parentheses"],
    ])("/proc/self/stat %j -> %s (%s)", (stat, expected) => {
        expect(foregroundOfTerminal(stat)).toBe(expected);
    });
});
